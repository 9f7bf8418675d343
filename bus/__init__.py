"""REON's message bus: envelope, broker, pub/sub and RPC clients, contracts, service runtime.

Only this package imports zmq and msgpack (DESIGN.md, rule 1).
"""
