"""Every CALLERROR rule of OCPP-J part 4 §4.2-4.4, with raw frames from a CSMS socket."""

from __future__ import annotations

import pytest

from tests.services.ocpp_client.csms_stub import RawCsms, StationLink

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "[2,\"big\",\"Reset\",{\"type\":" + "9" * 5000 + "}]"
DISPLAY = {"message": {"id": 1, "priority": "AlwaysFront", "message": {"format": "UTF8", "content": "hi"}}}


@pytest.fixture
async def station(linked: StationLink) -> StationLink:
    async def reset(payload: dict) -> dict:
        return {"status": "Accepted"}

    async def clear_cache(payload: dict) -> dict:
        raise RuntimeError("cache is on fire")

    async def local_list_version(payload: dict) -> dict:
        return {"versionNumber": "seven"}  # breaks the response schema

    linked.rpc.register("Reset", reset)
    linked.rpc.register("ClearCache", clear_cache)
    linked.rpc.register("GetLocalListVersion", local_list_version)
    return linked


@pytest.mark.parametrize(
    ("frame", "message_id", "code"),
    [
        pytest.param("this is not json", "-1", "RpcFrameworkError", id="not-json"),
        pytest.param('[2,"id-nan","Reset",{"type":NaN}]', "-1", "RpcFrameworkError", id="nan-is-not-json"),
        pytest.param(DEEP, "-1", "RpcFrameworkError", id="nested-too-deep"),
        pytest.param(HUGE_INT, "-1", "RpcFrameworkError", id="huge-integer"),
        pytest.param('{"a":1}', "-1", "RpcFrameworkError", id="object-not-array"),
        pytest.param("[]", "-1", "RpcFrameworkError", id="empty-array"),
        pytest.param('"2"', "-1", "RpcFrameworkError", id="bare-string"),
        pytest.param('["2","id-s","Reset",{}]', "id-s", "RpcFrameworkError", id="type-id-as-string"),
        pytest.param('[2.0,"id-f","Reset",{}]', "id-f", "RpcFrameworkError", id="type-id-as-float"),
        pytest.param('[true,"id-b","Reset",{}]', "id-b", "RpcFrameworkError", id="type-id-as-bool"),
        pytest.param('[7,"id-7",{}]', "id-7", "MessageTypeNotSupported", id="unknown-type-id"),
        pytest.param("[5]", "-1", "MessageTypeNotSupported", id="unknown-type-no-id"),
        pytest.param('[2,5,"Reset",{"type":"Immediate"}]', "-1", "RpcFrameworkError", id="id-not-string"),
        pytest.param(f'[2,"{"x" * 37}","Reset",{{}}]', "-1", "RpcFrameworkError", id="id-too-long"),
        pytest.param('[2,"","Reset",{}]', "-1", "RpcFrameworkError", id="id-empty"),
        pytest.param('[2,"id-3","Reset"]', "id-3", "RpcFrameworkError", id="call-missing-payload"),
        pytest.param('[2,"id-5","Reset",{},{}]', "id-5", "RpcFrameworkError", id="call-extra-element"),
        pytest.param('[2,"id-a",5,{}]', "id-a", "RpcFrameworkError", id="action-not-string"),
        pytest.param('[2,"id-l","Reset",[]]', "id-l", "FormatViolation", id="payload-array"),
        pytest.param('[2,"id-n","Reset",null]', "id-n", "FormatViolation", id="payload-null"),
        pytest.param('[2,"id-u","MakeCoffee",{}]', "id-u", "NotImplemented", id="unknown-action"),
        pytest.param(f'[2,"id-d","SetDisplayMessage",{DISPLAY}]'.replace("'", '"'), "id-d", "NotSupported",
                     id="known-action-not-supported"),
        pytest.param('[2,"id-bn","BootNotification",{}]', "id-bn", "NotSupported", id="station-to-csms-action"),
        pytest.param('[2,"id-r","Reset",{}]', "id-r", "OccurrenceConstraintViolation", id="required-missing"),
        pytest.param('[2,"id-t","Reset",{"type":5}]', "id-t", "TypeConstraintViolation", id="wrong-type"),
        pytest.param('[2,"id-e","Reset",{"type":"Soon"}]', "id-e", "PropertyConstraintViolation", id="bad-enum"),
        pytest.param('[2,"id-x","Reset",{"type":"OnIdle","x":1}]', "id-x", "FormatViolation",
                     id="unknown-field"),
        pytest.param('[2,"id-h","ClearCache",{}]', "id-h", "InternalError", id="handler-raises"),
        pytest.param('[2,"id-v","GetLocalListVersion",{}]', "id-v", "InternalError", id="handler-bad-response"),
    ],
)
async def test_bad_frame_gets_the_callerror_the_spec_names(
    raw_csms: RawCsms, station: StationLink, frame: str, message_id: str, code: str
) -> None:
    await raw_csms.send(frame)
    reply = await raw_csms.recv()
    assert reply[:3] == [4, message_id, code]
    assert isinstance(reply[3], str) and len(reply[3]) <= 255 and isinstance(reply[4], dict)
    await assert_still_answers(raw_csms)


@pytest.mark.parametrize(
    "frame",
    [
        '[3,"nobody-asked",{}]',
        '[4,"nobody-asked","GenericError","",{}]',
        '[3,"short"]',
        '[3,"x",[]]',
        '[4,"x"]',
        '[4,"-1","RpcFrameworkError","your frame was bad",{}]',
    ],
)
async def test_stray_or_broken_replies_are_dropped_without_an_answer(
    raw_csms: RawCsms, station: StationLink, frame: str
) -> None:
    await raw_csms.send(frame)
    await assert_still_answers(raw_csms)  # the next frame out is the answer to the probe, nothing before it


async def test_binary_frame_gets_rpc_framework_error(raw_csms: RawCsms, station: StationLink) -> None:
    assert raw_csms.ws is not None
    await raw_csms.ws.send(b'[2,"bin","Reset",{"type":"OnIdle"}]')
    assert (await raw_csms.recv())[:3] == [4, "-1", "RpcFrameworkError"]
    await assert_still_answers(raw_csms)


async def assert_still_answers(raw_csms: RawCsms) -> None:
    await raw_csms.send('[2,"probe","Reset",{"type":"OnIdle"}]')
    assert await raw_csms.recv() == [3, "probe", {"status": "Accepted"}]
