"""Contract of reon-firmware: firmware update (OCPP 2.0.1 L01/L02) and log upload (N01), read this file first.

No OCPP here: the ocpp client receives UpdateFirmware / GetLog / TriggerMessage from the CSMS, calls the
commands below and turns the entries of the durable stream `status` into FirmwareStatusNotification,
LogStatusNotification and SecurityEventNotification, in stream order.

Decisions (see services/firmware/README.md for the reasons):
- Certificates: the trusted manufacturer roots are `[firmware] manufacturer_root` and the
  ManufacturerRootCertificates the CSMS installed (the ocpp client passes them with each update_firmware).
  With any root, an update needs signingCertificate + signature (else Rejected, TC_L_18) and the certificate
  must chain to one of the roots (else InvalidCertificate + security event
  InvalidFirmwareSigningCertificate). Without a root the station does non-secure updates only (L02): a
  request without certificate is accepted and installed unverified, one with a certificate is
  InvalidCertificate (it cannot be checked). RevokedCertificate is never answered (no revocation source).
- A new UpdateFirmware while one runs cancels it (AcceptedCanceled), unless it is installing or rebooting
  (Rejected, L01.FR.27). Statuses of the old request stop at once.
- Target version: the `version` query parameter of the location, else the first "1.2.3"-like part of the
  file name, else unknown. After the reboot: running version == target → Installed; a known target that
  does not run → InstallVerificationFailed; unknown target → Installed (the installer exited 0).
- The running version is `<data_dir>/firmware_version` when present (written by the new image / the sim
  reboot), else `[station] firmware_version`.
"""

from enum import StrEnum

from bus.contract import Command, Contract, DurableStream, EntryKind, Field, Topic
from bus.durable import STREAM_COMMANDS

FIRMWARE_STATUS = ("enum(Downloaded|DownloadFailed|Downloading|DownloadScheduled|DownloadPaused|Idle|"
                   "InstallationFailed|Installing|Installed|InstallRebooting|InstallScheduled|"
                   "InstallVerificationFailed|InvalidSignature|SignatureVerified)")
LOG_STATUS = "enum(BadMessage|Idle|NotSupportedOperation|PermissionDenied|Uploaded|UploadFailure|Uploading|" \
             "AcceptedCanceled)"
SECURITY_EVENTS = "enum(InvalidFirmwareSigningCertificate|InvalidFirmwareSignature|FirmwareUpdated)"

UPDATE_FIRMWARE_REQUEST = {
    "requestId": "int",
    "retries": "int?",
    "retryInterval": "int?",
    "firmware": {"location": "str", "retrieveDateTime": "str", "installDateTime": "str?",
                 "signingCertificate": "str?", "signature": "str?"},
}
GET_LOG_REQUEST = {
    "logType": "enum(DiagnosticsLog|SecurityLog)",
    "requestId": "int",
    "retries": "int?",
    "retryInterval": "int?",
    "log": {"remoteLocation": "str", "oldestTimestamp": "str?", "latestTimestamp": "str?"},
}

STREAM = "status"
STREAM_CONSUMERS = ("ocpp",)


class StatusEntry(StrEnum):
    """The kinds of entry of the `status` stream (the entry's `name`)."""

    FIRMWARE_STATUS = "firmware_status"
    LOG_STATUS = "log_status"
    SECURITY_EVENT = "security_event"


STATUS = DurableStream(
    STREAM,
    "durable, consumer 'ocpp', at-least-once (a restart may repeat the last entry), in the order to report",
    kinds=(
        EntryKind(StatusEntry.FIRMWARE_STATUS, "a FirmwareStatusNotification to send", (
            Field("status", FIRMWARE_STATUS, "OCPP FirmwareStatusEnumType"),
            Field("request_id", "int?", "the UpdateFirmware requestId; None: none"),
        )),
        EntryKind(StatusEntry.LOG_STATUS, "a LogStatusNotification to send", (
            Field("status", LOG_STATUS, "OCPP UploadLogStatusEnumType"),
            Field("request_id", "int?", "the GetLog requestId; None: none"),
        )),
        EntryKind(StatusEntry.SECURITY_EVENT, "a SecurityEventNotification to send", (
            Field("type", SECURITY_EVENTS, "the security event (OCPP Appendix 1 names)"),
            Field("tech_info", "str?", "what happened, at most 255 characters"),
        )),
    ),
)

JOB_STATE = {
    "version": "str",
    "status": FIRMWARE_STATUS,
    "request_id": "int?",
    "step": "enum(idle|scheduled|downloading|verifying|install_scheduled|installing|rebooting|done)",
    "location": "str?",
    "target_version": "str?",
    "downloaded_bytes": "int?",
    "total_bytes": "int?",
    "transactions_idle": "bool?",
    "log_status": LOG_STATUS,
    "log_request_id": "int?",
}

CONTRACT = Contract(
    service="firmware",
    doc="firmware download, signature check, install through the configured installer, confirmation after"
        " the reboot; log upload",
    state=(
        Topic("job", JOB_STATE,
              "the firmware job and the running version, at start and on every change (every 2 s of download"
              " progress): version = the running firmware, status = the last FirmwareStatus reported (Idle"
              " when none), step = where the persisted job is; log_status / log_request_id = the log upload"),
        Topic("install_pending", {"pending": "bool", "allow_new_sessions": "bool"},
              "pending while a verified image waits for transactions to end, installs or reboots: idle EVSEs"
              " go Unavailable unless allow_new_sessions (the station file's"
              " ChargingStation.AllowNewSessionsPendingFirmwareUpdate; the ocpp device model value wins)"),
    ),
    commands=(
        Command("update_firmware", {"request": UPDATE_FIRMWARE_REQUEST, "manufacturer_roots": "list?"},
                {"status": "enum(Accepted|Rejected|AcceptedCanceled|InvalidCertificate|RevokedCertificate)",
                 "reason": "str?"},
                "UpdateFirmwareRequest payload → the UpdateFirmwareResponse status (reason: why, for the log"
                " and statusInfo.additionalInfo); the job is persisted before the reply. manufacturer_roots:"
                " PEM strings of the ManufacturerRootCertificates installed by the CSMS, trusted besides"
                " [firmware] manufacturer_root"),
        Command("get_log", {"request": GET_LOG_REQUEST},
                {"status": "enum(Accepted|Rejected|AcceptedCanceled)", "filename": "str?", "reason": "str?"},
                "GetLogRequest payload → GetLogResponse; uploads <filename> (a .tar.gz of the matching log"
                " lines) with HTTP(S) PUT or FTP(S) STOR; a running upload is cancelled (AcceptedCanceled)"),
        Command("status", {}, {"firmware": {"status": FIRMWARE_STATUS, "request_id": "int?"},
                               "log": {"status": LOG_STATUS, "request_id": "int?"}},
                "what TriggerMessage(FirmwareStatusNotification / LogStatusNotification) reports: Idle when"
                " nothing ran or the last status was Installed, else the last status with its requestId"
                " (F06.FR.16/17); log: Uploading with its requestId, else Idle",
                idempotent=True),
        Command("transactions_idle", {"idle": "bool"}, {"idle": "bool"},
                "the ocpp client says whether no transaction is running (also read from"
                " ocpp.state.transactions {active}); installs wait for idle; unknown counts as busy",
                idempotent=True),
        *STREAM_COMMANDS,
    ),
    streams=(STATUS,),
)
