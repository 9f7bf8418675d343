"""What the CSMS link needs to know: where, who, how secured, and how to retry (part 4 §3.1, §5.3), and which
of them the next attempt uses (`ActiveSettings`: network profiles B10, a new BasicAuthPassword on trial A01)."""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import quote, urlsplit

log = logging.getLogger("reon.ocpp.connection")
STATION_ID_MAX_LEN = 48


@dataclass(frozen=True)
class ConnectionSettings:
    """One NetworkConnectionProfile as the link uses it. `check()` names the first bad field."""

    csms_url: str  # the OCPP-J endpoint, e.g. wss://csms.example.com/ocpp
    station_id: str
    security_profile: int = 1  # 1: Basic auth, 2: TLS + Basic auth, 3: TLS + client certificate
    basic_auth_password: str | None = None
    csms_root_ca_file: str | None = None  # PEM file of the CSMS root certificate(s)
    client_cert_file: str | None = None  # profile 3: the station certificate (chain), PEM
    client_key_file: str | None = None
    open_timeout_s: float = 30.0
    max_message_bytes: int = 1 << 20

    @property
    def url(self) -> str:
        """Connection URL: endpoint + "/" + percent-encoded station id (part 4 §3.1.1)."""
        return f"{self.csms_url.rstrip('/')}/{quote(self.station_id, safe='')}"

    def check(self) -> None:
        """Raise ValueError naming the first field that is wrong."""
        scheme = urlsplit(self.csms_url).scheme
        if scheme not in ("ws", "wss") or not urlsplit(self.csms_url).hostname:
            raise ValueError(f"csms_url: expected ws://host/... or wss://host/..., got {self.csms_url!r}")
        if not 0 < len(self.station_id) <= STATION_ID_MAX_LEN or ":" in self.station_id:
            raise ValueError(f"station_id: 1..{STATION_ID_MAX_LEN} characters without ':', "
                             f"got {self.station_id!r}")
        if self.security_profile not in (1, 2, 3):
            raise ValueError(f"security_profile: 1, 2 or 3, got {self.security_profile!r}")
        wanted_scheme = "ws" if self.security_profile == 1 else "wss"
        if scheme != wanted_scheme:
            raise ValueError(f"csms_url: security profile {self.security_profile} needs {wanted_scheme}://")
        if self.security_profile in (1, 2) and not self.basic_auth_password:
            raise ValueError(f"basic_auth_password: required by security profile {self.security_profile}")
        if self.security_profile >= 2 and not self.csms_root_ca_file:
            raise ValueError(f"csms_root_ca_file: required by security profile {self.security_profile}")
        if self.security_profile == 3 and not (self.client_cert_file and self.client_key_file):
            raise ValueError("client_cert_file, client_key_file: required by security profile 3")
        if self.open_timeout_s <= 0 or self.max_message_bytes <= 0:
            raise ValueError("open_timeout_s, max_message_bytes: must be > 0")


@dataclass
class RetryBackOff:
    """Reconnect back-off of part 4 §5.3; the fields may be changed at run time."""

    wait_minimum_s: float = 5.0  # RetryBackOffWaitMinimum
    random_range_s: float = 10.0  # RetryBackOffRandomRange
    repeat_times: int = 3  # RetryBackOffRepeatTimes

    def delay_s(self, retry_index: int, rng: Callable[[], float]) -> float:
        """Wait before reconnection attempt `retry_index` (0 = the first after a loss).

        WaitMinimum doubled once per failed attempt, at most RepeatTimes times, plus a new random
        part of at most RandomRange every time.
        """
        doublings = min(max(retry_index, 0), max(self.repeat_times, 0))
        return max(self.wait_minimum_s, 0.0) * 2**doublings + rng() * max(self.random_range_s, 0.0)


class ActiveSettings:
    """The settings of the link now and of its next attempt.

    `source()`, when given, supplies the settings of every attempt (network profiles, B10); the password the
    link holds (A01) is kept over it. A new password is tried first, the current one after it if refused.
    """

    def __init__(self, settings: ConnectionSettings,
                 source: Callable[[], ConnectionSettings] | None = None) -> None:
        settings.check()
        self.current = settings
        self._source = source
        self.pending_password: str | None = None

    def refresh(self) -> None:
        """The settings of this attempt from `source` (ValueError: none usable)."""
        if self._source is None:
            return
        fresh = self._source()
        if fresh.security_profile < 3 and self.current.basic_auth_password:
            fresh = replace(fresh, basic_auth_password=self.current.basic_auth_password)
        fresh.check()
        self.current = fresh

    def new_password(self, password: str) -> bool:
        """Use a new BasicAuthPassword (A01); True: the link must reconnect to try it (profiles 1, 2)."""
        if not password:
            raise ValueError("basic_auth_password must not be empty")
        if self.current.security_profile >= 3:
            self.current = replace(self.current, basic_auth_password=password)
            return False
        self.pending_password = password
        return True

    def apply(self, settings: ConnectionSettings, *, allow_downgrade_3_to_2: bool = False) -> None:
        """New URL, credentials or certificates; never a lower security profile (A00.FR.005)."""
        settings.check()
        current, new = self.current.security_profile, settings.security_profile
        if new < current and not (allow_downgrade_3_to_2 and (current, new) == (3, 2)):
            raise ValueError(f"security_profile: {new} is lower than the active {current}")
        self.current = settings
        self.pending_password = None

    def password_candidates(self) -> list[tuple[str | None, bool]]:
        """(password, is it the new one) in the order to try them; None: no Basic auth (profile 3)."""
        if self.current.security_profile >= 3:
            return [(None, False)]
        current = self.current.basic_auth_password
        if self.pending_password is not None:
            return [(self.pending_password, True), (current, False)]
        return [(current, False)]

    def settle_password(self, password: str | None, is_new: bool) -> bool:
        """The CSMS took `password`: keep it. True when a new password was on trial (`is_new` says whether it
        was accepted)."""
        if self.pending_password is None:
            return False
        if is_new:
            self.current = replace(self.current, basic_auth_password=password)
            log.info("CSMS accepted the new BasicAuthPassword")
        else:
            log.warning("CSMS refused the new BasicAuthPassword: the old one is kept")
        self.pending_password = None
        return True


# ---- the security profile at the CSMS (part 2 A00) ----
# HTTP Basic authentication (profiles 1 and 2; station/logs.py HideAuthorization keeps the credentials out of
# every log line); TLS for security profiles 2 and 3: TLS 1.2 or newer, the CSMS certificate checked against
# the configured CSMS root CA only (no system CA bundle), profile 3 adds the station's client certificate.
# Failures map to the security events of part 2 appendix 1.

#: OpenSSL reasons that mean the CSMS offered a TLS version below 1.2.
_TLS_VERSION_REASONS = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "WRONG_SSL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "VERSION_TOO_LOW",
    }
)


def client_tls_context(
    security_profile: int,
    csms_root_ca_file: str,
    client_cert_file: str | None = None,
    client_key_file: str | None = None,
) -> ssl.SSLContext:
    """A fresh client context (built per attempt, so newly installed certificates take effect)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=csms_root_ca_file)
    if security_profile >= 3:
        if not client_cert_file or not client_key_file:
            raise ValueError("security profile 3 needs client_cert_file and client_key_file")
        context.load_cert_chain(client_cert_file, client_key_file)
    return context


def security_event_for(exc: BaseException) -> tuple[str, str] | None:
    """(security event type, techInfo) for a failed TLS handshake, or None if it is not one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "InvalidCsmsCertificate", (exc.verify_message or str(exc))[:255]
    if isinstance(exc, ssl.SSLError) and exc.reason in _TLS_VERSION_REASONS:
        return "InvalidTLSVersion", str(exc.reason)
    return None


def authorization_header(station_id: str, password: str) -> str:
    """`Basic base64(<station id>:<BasicAuthPassword>)`."""
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode("ascii")
    return f"Basic {token}"
