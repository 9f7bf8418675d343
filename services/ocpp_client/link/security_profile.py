"""The station's security profile at the CSMS (part 2 A00).

HTTP Basic authentication (profiles 1 and 2; station/logs.py HideAuthorization keeps the credentials out of
every log line); TLS for security profiles 2 and 3 (part 2 A00): TLS 1.2 or newer, the CSMS certificate checked
against the configured CSMS root CA only (no system CA bundle), profile 3 adds the station's
client certificate. Failures map to the security events of part 2 appendix 1.
"""

from __future__ import annotations

import base64
import ssl

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
