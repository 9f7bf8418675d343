"""REON's message bus: envelope, broker, pub/sub and RPC clients, contracts, service runtime.

Only this package imports zmq and msgpack (tests/test_house_rules.py checks it). Station-wide things that are
not messaging (config, host identity, logging, supervisord, SQLite) live in station/.
"""
