"""Authorization (functional blocks C and D): the local decision on an idToken from the local list, the
authorization cache and the offline rules (decisions, C01-C16), their tables in ocpp.db (store), and the bus
glue: cards from evse_io, AuthorizeRequest, SendLocalList, GetLocalListVersion, ClearCache (service, D01-D02).

What the Authorization Cache keeps of a CSMS answer (C10, C12, C15; docs/authorization.md): Accepted and every
refusal of the card (Blocked, Expired, Invalid, NoCredit, NotAllowedTypeEVSE, NotAtThisLocation, NotAtThisTime)
replace the token's entry; Unknown is not kept and removes the entry, so the card is unknown again and
OfflineTxForUnknownIdEnabled applies to it offline (C15.FR.02); ConcurrentTx is not kept and leaves the entry.
"""
