"""A minimal service used by the runtime tests (run as a script in a real process)."""

import sys

from bus.contract import Command, Contract, Topic
from bus.runtime import Service, main
from station.sqlite import open_db


class Toy(Service):
    contract = Contract("toy", "a toy service for runtime tests",
                        state=(Topic("info", {"greeting": "str"}, "published at start"),),
                        commands=(Command("echo", "any", "any", "returns its args", idempotent=True),))

    async def start(self) -> None:
        await self.publish_state("info", {"greeting": "hello"})

    async def cmd_echo(self, args):
        return args


class Stored(Toy):
    """Opens `<data_dir>/toy.db` at construction, as every service with a database does."""

    def __init__(self, config, bus) -> None:
        super().__init__(config, bus)
        self.db = open_db(str(config.paths.data_dir / "toy.db"))


class Broken(Toy):
    """Declares a command it does not handle: must refuse to start."""

    contract = Contract("broken", "no handler", commands=(Command("missing", "any", "any", "x"),))


if __name__ == "__main__":
    if "--stored" in sys.argv:
        sys.argv.remove("--stored")
        sys.exit(main(Stored))
    sys.exit(main(Broken if "--broken" in sys.argv and not sys.argv.remove("--broken") else Toy))
