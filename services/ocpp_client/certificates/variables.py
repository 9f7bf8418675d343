"""Device-model variables of the certificates block, as data in the catalog's format (device_model_catalog).

Some already exist in the catalog (CertificateEntries, OrganizationName, SecurityProfile,
NetworkConfigurationPriority, NetworkProfileConnectionAttempts): these declarations replace them, adding the
limits this block enforces. CertificateEntries' Actual is the installed count (a reader on the store); its
maxLimit is the store's capacity (InstallCertificate answers Failed beyond it). AdditionalRootCertificateCheck
is declared false: REON does not support it (TC_M_09/30/31 do not apply).
"""

from __future__ import annotations

from services.ocpp_client.device_model.catalog import AttributeSpec, VariableSpec

MAX_CERTIFICATE_ENTRIES = 20
MAX_CERTIFICATE_CHAIN_SIZE = 10000  # CertificateSignedRequest.certificateChain maxLength


def _actual(component: str, variable: str, data_type: str, default: str | None, mutability: str = "ReadWrite",
            **characteristics: object) -> VariableSpec:
    attributes = (AttributeSpec("Actual", mutability, default),)
    return VariableSpec(component, variable, data_type, attributes, **characteristics)  # type: ignore[arg-type]


SECURITY = "SecurityCtrlr"
COMM = "OCPPCommCtrlr"

VARIABLES: tuple[VariableSpec, ...] = (
    _actual(SECURITY, "CertificateEntries", "integer", "0", "ReadOnly", min_limit=0,
            max_limit=MAX_CERTIFICATE_ENTRIES, persistent=False),
    _actual(SECURITY, "OrganizationName", "string", "", max_limit=64),
    _actual(SECURITY, "SecurityProfile", "integer", "1", "ReadOnly", min_limit=1, max_limit=3),
    _actual(SECURITY, "MaxCertificateChainSize", "integer", str(MAX_CERTIFICATE_CHAIN_SIZE), "ReadOnly",
            min_limit=1, max_limit=MAX_CERTIFICATE_CHAIN_SIZE),
    _actual(SECURITY, "CertSigningWaitMinimum", "integer", "60", unit="s", min_limit=1, max_limit=86400),
    _actual(SECURITY, "CertSigningRepeatTimes", "integer", "3", min_limit=0, max_limit=10),
    _actual(SECURITY, "AdditionalRootCertificateCheck", "boolean", "false", "ReadOnly", constant=True),
    # Checked by NetworkProfiles.check_priority on every write (A05.FR.02/03); takes effect after a reset.
    _actual(COMM, "NetworkConfigurationPriority", "string", "1", max_limit=100, reboot_required=True),
    _actual(COMM, "NetworkProfileConnectionAttempts", "integer", "3", min_limit=1, max_limit=100),
)
