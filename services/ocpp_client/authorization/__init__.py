"""Authorization (functional blocks C and D): the local decision on an idToken from the local list, the
authorization cache and the offline rules (decisions, C01-C16), their tables in ocpp.db (store), and the bus
glue: cards from evse_io, AuthorizeRequest, SendLocalList, GetLocalListVersion, ClearCache (service, D01-D02).
"""
