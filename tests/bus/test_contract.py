import pytest

from bus.contract import Command, Contract, ContractViolation, Topic, validate

TOY = Contract("toy", "toy", state=(Topic("evse.{evse}", {"status": "enum(Available|Occupied)",
                                                          "limit_a": "float?"}, "per EVSE"),),
               events=(Topic("swiped", {"token": "str", "evse": "int"}, "a card"),),
               commands=(Command("stop", {"evse": "int"}, "any", "stop"),))


@pytest.mark.parametrize("shape,value", [
    ("int", 3), ("float", 3), ("float", 2.5), ("str?", None), ({"a": "int?"}, {}), (["int"], [1, 2]),
    ({"a": {"b": "bool"}}, {"a": {"b": False, "extra": 1}}), ("enum(A|B)", "B"), ("any", object()),
])
def test_values_matching_their_shape_pass(shape, value) -> None:
    validate(shape, value)


@pytest.mark.parametrize("shape,value,where", [
    ("int", True, "$"), ("int", 1.5, "$"), ("str", None, "$"), ({"a": "int"}, {}, "$.a"),
    (["int"], [1, "x"], "$[1]"), ({"a": {"b": "bool"}}, {"a": {"b": 1}}, "$.a.b"), ("enum(A|B)", "C", "$"),
    ("dict", [], "$"),
])
def test_violations_name_the_path(shape, value, where) -> None:
    with pytest.raises(ContractViolation, match=rf"^{__import__('re').escape(where)}"):
        validate(shape, value)


def test_published_state_and_events_are_checked_against_the_contract() -> None:
    TOY.check_published("state", "evse.2", {"status": "Occupied", "limit_a": None})
    with pytest.raises(ContractViolation, match="not declared"):
        TOY.check_published("state", "evse", {"status": "Occupied"})
    with pytest.raises(ContractViolation, match="status"):
        TOY.check_published("state", "evse.1", {"status": "Charging"})
    with pytest.raises(ContractViolation, match="not declared"):
        TOY.check_published("evt", "unplugged", {})


async def test_strict_client_refuses_to_publish_outside_its_contract(run_dir, broker) -> None:
    from bus.client import BusClient

    client = BusClient(run_dir, "toy", contract=TOY, strict=True)
    await client.start()
    with pytest.raises(ContractViolation):
        await client.publish_event("swiped", {"token": 5, "evse": 1})
    await client.close()


def test_render_lists_every_item() -> None:
    text = TOY.render()
    assert "toy.state.evse.{evse}" in text and "toy.evt.swiped" in text and "stop" in text


def test_every_service_package_with_a_contract_module_is_found_without_a_list() -> None:
    from pathlib import Path

    from bus.contract import all_contracts, contract_modules

    root = Path(__file__).resolve().parents[2]
    expected = {f"services.{p.parent.name}.contract" for p in (root / "services").glob("*/contract.py")}
    assert expected <= set(contract_modules())
    assert {"bus", "sim", "evse_io", "meter", "modem", "firmware", "ocpp"} <= set(all_contracts())
