"""Contract of reon-bus, the broker: the liveness table, its counters and the snapshot command."""

from bus.contract import Command, Contract, Topic

SERVICE_ENTRY = {
    "session": "str",
    "pid": "int?",
    "started": "float?",
    "last_heartbeat": "float",
    "alive": "bool",
    "restarts": "int",
}

CONTRACT = Contract(
    service="bus",
    doc="the message broker: pub/sub forwarding, last-value cache of state, liveness of every service",
    state=(
        Topic("services", {"services": "dict"},
              "per service: session, pid, last heartbeat (UTC s), alive (dead after 3 missed beats), restarts;"
              " published on every change and every 5 s"),
        Topic("broker", {"session": "str", "forwarded": "int", "dropped": "dict", "cached_topics": "int"},
              "forwarding counters; dropped counts malformed frames by reason"),
    ),
    commands=(
        Command("snapshot", {"prefix": "str?"}, {"state": "dict"},
                "every cached state message whose topic starts with prefix: {topic: {ts, src, body}}",
                idempotent=True),
    ),
)
