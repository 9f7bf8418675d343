"""A minimal service used by the runtime tests (run as a script in a real process)."""

import sys

from bus.contract import Command, Contract, Topic
from bus.runtime import Service, main


class Toy(Service):
    contract = Contract("toy", "a toy service for runtime tests",
                        state=(Topic("info", {"greeting": "str"}, "published at start"),),
                        commands=(Command("echo", "any", "any", "returns its args", idempotent=True),))

    async def start(self) -> None:
        await self.publish_state("info", {"greeting": "hello"})

    async def cmd_echo(self, args):
        return args


class Broken(Toy):
    """Declares a command it does not handle: must refuse to start."""

    contract = Contract("broken", "no handler", commands=(Command("missing", "any", "any", "x"),))


if __name__ == "__main__":
    sys.exit(main(Broken if "--broken" in sys.argv and not sys.argv.remove("--broken") else Toy))
