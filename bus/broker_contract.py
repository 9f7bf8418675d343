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
        Topic("broker", {"session": "str", "forwarded": "int", "dropped": "dict", "cached_topics": "int",
                         "cache_bytes": "int", "cache_budget_bytes": "int", "cache_max_topic_bytes": "int",
                         "cache_refused": "int"},
              "forwarding counters; dropped counts malformed frames by reason; the last-value cache's size against"
              " its total budget and per-topic limit, and how many state messages it refused (forwarded, not kept)"),
    ),
    commands=(
        Command("snapshot", {"prefix": "str?", "after": "str?"}, {"state": "dict", "next": "str?", "broker": "dict"},
                "one page of the cached state messages whose topic starts with prefix and sorts after `after`:"
                " {topic: {ts, src, body}}; `next` is the `after` of the following page, null on the last;"
                " broker: its counters", idempotent=True),
    ),
)
