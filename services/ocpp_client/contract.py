"""Contract of reon-ocpp: the CSMS link, the durable outbound queue, boot reason for the next start.

Read this first. `csms` is published at start, on every change of the link, registration or queue, and
every 30 s. The transaction module adds its own state (`transaction.{evse}`) in TRANSACTION_STATE below.
"""

from __future__ import annotations

from bus.contract import Command, Contract, Topic

REGISTRATION = "enum(Unknown|Pending|Accepted|Rejected)"  # Unknown: no BootNotificationResponse yet
BOOT_REASONS = ("ApplicationReset", "FirmwareUpdate", "LocalReset", "PowerUp", "RemoteReset", "ScheduledReset",
                "Triggered", "Unknown", "Watchdog")

CSMS_STATE = {
    "url": "str",  # the CSMS endpoint + "/" + station id
    "connected": "bool",  # the WebSocket is up
    "held_down": "bool",  # `disconnect` keeps it down until `connect`
    "registration": REGISTRATION,
    "queue_depth": "int",  # messages in the durable outbound queue, not yet delivered
    "dead_letters": "int",  # messages that exhausted their attempts (command dead_letters lists them)
    "security_profile": "int",
    "last_message_at": "float?",  # UTC seconds of the last frame received from the CSMS
    # since the service started: calls_sent {action: n}, call_errors {action: n} (CALLERRORs received),
    # rtt_s {bounds, cumulative_counts, sum, count} (round trips of answered CALLs, link/call_stats.py),
    # reconnects (links up after the first), failed_attempts (connection attempts that failed)
    "link": "dict?",
}

INSTALLED_CERTIFICATE = {
    "type": "str",  # CSMSRootCertificate, ManufacturerRootCertificate, …, ChargingStationCertificate
    "state": "enum(active|pending)",  # pending: a renewed station certificate, used from the next connection
    "subject": "str", "issuer": "str", "serial": "str",  # RFC 4514 names, serial in hex
    "not_before": "str", "not_after": "str",  # ISO 8601, UTC
}

RESERVATION = {
    "reservation_id": "int",
    "evse_id": "int?",  # None: any EVSE (ReservationCtrlr.NonEvseSpecific)
    "connector_type": "str?",
    "id_token": "dict",  # IdTokenType as the CSMS sent it: {idToken, type, …}
    "group_id_token": "dict?",
    "expires_at": "str",  # expiryDateTime, RFC 3339 UTC
}

DEAD_LETTER = {
    "id": "int", "action": "str", "kind": "str", "payload": "dict", "attempts": "int",
    "queued_at": "float", "died_at": "float", "error": "str",
}

TRANSACTION = {
    "evse": "int",
    "transaction_id": "str?",  # the open transaction; None: none on this EVSE
    "charging_state": "enum(Idle|EVConnected|Charging|SuspendedEV|SuspendedEVSE)?",  # as last reported
    "seq_no": "int?",  # the seqNo its next TransactionEvent gets
    "id_token": "str?",  # idToken of the authorization that started or last held it
    "started_at": "float?",  # UTC seconds
    "energy_wh": "float?",  # delivered in this transaction so far (meter now − Transaction.Begin)
    "authorized": "bool",  # an authorization is in force on the EVSE (with or without a transaction)
}

PROFILES_OF_EVSE = {
    "evse": "int",
    "limit": "dict?",  # {current_a (None: no limit beyond the EVSE's own; 0: paused), purpose, profile_id}
    "profiles": ["dict"],  # ChargingProfileType payloads with evseId
    "composite": "dict",  # CompositeScheduleType (GetCompositeSchedule), in A
}

#: The transaction module's state; reonctl status reads `ocpp.state.transaction.<n>` {transaction_id,
#: charging_state}.
TRANSACTION_STATE: tuple[Topic, ...] = (
    Topic("transaction.{evse}", TRANSACTION,
          "per EVSE: its open OCPP transaction (all None when there is none); published at start and on every"
          " change (a TransactionEvent queued, a meter sample moving energy_wh)"),
)

CONTRACT = Contract(
    service="ocpp",
    doc="the OCPP 2.0.1 link to the CSMS: boot, device model, remote commands, durable outbound queue",
    state=(
        Topic("csms", CSMS_STATE,
              "the CSMS link: connected, registration (BootNotification status), outbound queue depth and dead"
              " letters; published at start, on every change and every 30 s"),
        Topic("transactions", {"active": "int", "started": "int?", "ended": "dict?", "authorizations": "dict?"},
              "ongoing transactions on the whole station; the firmware service installs only at 0; at start and"
              " on every change. Since the service started (transactions/event_queue.py): started,"
              " ended {stoppedReason: n}, authorizations {idTokenInfo status: n}"),
        *TRANSACTION_STATE,
        Topic("reservations", {"reservations": [RESERVATION]},
              "every reservation the station holds (H01), oldest first; at start and on every change"),
    ),
    commands=(
        Command("disconnect", {}, CSMS_STATE,
                "drop the CSMS link and keep it down until `connect` (queued messages wait)", idempotent=True),
        Command("connect", {}, CSMS_STATE,
                "release a `disconnect`: connect now, without back-off", idempotent=True),
        Command("dead_letters", {"limit": "int?"}, {"count": "int", "dead_letters": [DEAD_LETTER]},
                "queued messages that exhausted MessageAttempts (newest first, at most limit, default 100)",
                idempotent=True),
        Command("certificates", {}, {"certificates": [INSTALLED_CERTIFICATE]},
                "the certificates in the station's store (roots, the station certificate), install order",
                idempotent=True),
        Command("profiles", {"evse": "int?"}, {"station_profiles": ["dict"], "evses": [PROFILES_OF_EVSE]},
                "smart charging: the installed charging profiles (ChargingStationMaxProfile ones in"
                " station_profiles), the limit applied and the composite schedule of the next 24 h of each EVSE"
                " (of one with evse)", idempotent=True),
        Command("set_boot_reason", {"reason": f"enum({'|'.join(BOOT_REASONS)})"}, {"reason": "str"},
                "persist the BootNotification reason for the next start (call before causing a restart, e.g."
                " FirmwareUpdate); consumed once that boot is Accepted", idempotent=True),
    ),
)
