"""The log line's fast path (no secret key or variable name in the text: no walk) writes exactly what the full
redaction writes, for any payload, secrets anywhere in it included."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ocpp_client.link.message_log import compact, redact

keys = st.sampled_from(["password", "apnPassword", "simPin", "key", "vpn", "variable", "name", "attributeValue",
                        "variableAttribute", "actualValue", "value"]) | st.text(max_size=6)
leaves = st.none() | st.integers() | st.text(max_size=8) | st.sampled_from(["BasicAuthPassword", "MySecret"])
payloads = st.recursive(leaves, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(keys, kids, max_size=4),
                        max_leaves=16)


@settings(max_examples=300, deadline=None)
@given(payload=payloads, secrets=st.sampled_from([frozenset({"BasicAuthPassword"}), frozenset({"MySecret"}),
                                                  frozenset()]))
def test_fast_log_line_equals_the_fully_redacted_one(payload, secrets) -> None:
    full = json.dumps(redact(payload, secrets), separators=(",", ":"), ensure_ascii=False)
    assert compact(payload, secrets) == full[:4000] or compact(payload, secrets).startswith(full[:4000])


def test_a_password_never_reaches_the_line() -> None:
    line = compact({"setVariableData": [{"variable": {"name": "BasicAuthPassword"}, "attributeValue": "s3cret"}],
                    "apn": {"apnPassword": "p"}})
    assert "s3cret" not in line and '"p"' not in line
