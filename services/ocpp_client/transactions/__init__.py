"""Transactions (functional block E, with F01-F03, F06, E14 and B12 where they meet it): the per-EVSE state
machine (model, core, remote, timers, tokens, sessions, assembled by manager), the TransactionEventRequest
builder (events), its records in ocpp.db (store), the bus glue around it (service), its messages on the
outbound queue and their counters (event_queue), and what it offers the other blocks (activity: active
transactions, ending them for a reset, triggered messages).
"""
