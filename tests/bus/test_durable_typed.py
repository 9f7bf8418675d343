"""Typed durable streams: the producer's contract declares entry kinds and fields; both ends check them."""

import asyncio

import pytest

from bus.client import BusClient
from bus.contract import Contract, ContractViolation, DurableStream, EntryKind, Field, register_contract
from bus.durable import STREAM_COMMANDS, DurableConsumer, DurableProducer, declared_stream, stream_topics
from bus.rpc import RpcServer
from services.evse_io.contract import SessionEntry
from station.sqlite import open_db
from tests.rigs import LogWatch

TYPED = DurableStream("session", "plug facts", common=(Field("evse_id", "int", "the EVSE"),), kinds=(
    EntryKind("plugged_in", "an EV arrived"),
    EntryKind("power_on", "relays closed", (Field("offered_current_a", "float", "PWM offer"),)),
))
TYPED_CONTRACT = Contract("typed_prod", "a typed producer", commands=STREAM_COMMANDS, streams=(TYPED,))
# The same service seen from a faulty producer build that no longer declares the kinds: it journals anything.
UNTYPED_CONTRACT = Contract("typed_prod", "untyped", state=(stream_topics("session", "x")[0],),
                            events=(stream_topics("session", "x")[1],), commands=STREAM_COMMANDS)


class Producer:
    def __init__(self, run_dir, db, contract: Contract) -> None:
        self.run_dir, self.db, self.contract = run_dir, db, contract

    async def __aenter__(self) -> DurableProducer:
        self.bus = BusClient(self.run_dir, "typed_prod", contract=self.contract, strict=True)
        await self.bus.start()
        self.conn = open_db(self.db)
        self.producer = DurableProducer(self.bus, self.conn, {"session": ("cons",)})
        self.rpc = RpcServer(self.run_dir, self.bus.stamper, self.contract, self.producer.handlers(), self.bus.ctx)
        await self.rpc.start()
        await self.producer.publish_heads()
        return self.producer

    async def __aexit__(self, *exc) -> None:
        await self.rpc.close()
        await self.bus.close()
        self.conn.close()


def test_the_contract_declares_kinds_and_fields_and_checks_entries() -> None:
    TYPED.check_entry("power_on", {"evse_id": 1, "offered_current_a": 16}, "typed_prod.session")
    with pytest.raises(ContractViolation, match="'pluged_in' is not declared; one of plugged_in, power_on"):
        TYPED.check_entry("pluged_in", {"evse_id": 1}, "typed_prod.session")
    with pytest.raises(ContractViolation, match=r"power_on\.offered_current_a: missing"):
        TYPED.check_entry("power_on", {"evse_id": 1}, "typed_prod.session")


def test_evse_io_session_kinds_reach_a_consumer_through_the_bus_without_an_import() -> None:
    kinds = declared_stream("evse_io", "session").enum()
    assert kinds.PLUGGED_IN == SessionEntry.PLUGGED_IN == "plugged_in"
    assert {k.value for k in kinds} == {k.value for k in SessionEntry}
    assert declared_stream("firmware", "status").kind_names() == ("firmware_status", "log_status", "security_event")


async def test_producer_refuses_a_misspelled_kind_or_a_missing_field_and_journals_nothing(
        run_dir, broker, tmp_path) -> None:
    async with Producer(run_dir, tmp_path / "p.db", TYPED_CONTRACT) as producer:
        with pytest.raises(ContractViolation, match="pluged_in"):
            await producer.append("session", "pluged_in", {"evse_id": 1})
        with pytest.raises(ContractViolation, match="offered_current_a: missing"):
            await producer.append("session", "power_on", {"evse_id": 1})
        assert producer.last_seq("session") == 0
        assert await producer.append("session", "plugged_in", {"evse_id": 1}) == 1


async def test_consumer_stops_loudly_at_an_entry_its_producer_does_not_declare(
        run_dir, broker, tmp_path) -> None:
    register_contract(TYPED_CONTRACT)  # what the consumer finds for typed_prod on the bus
    handled: list[int] = []

    async def handler(entry, conn) -> None:
        handled.append(entry["seq"])

    async with Producer(run_dir, tmp_path / "p.db", UNTYPED_CONTRACT) as producer:
        await producer.append("session", "plugged_in", {"evse_id": 1})
        await producer.append("session", "pluged_in", {"evse_id": 1})  # misspelled kind
        await producer.append("session", "power_on", {"evse_id": 1})  # offered_current_a missing
        bus = BusClient(run_dir, "cons", strict=False)
        await bus.start()
        conn = open_db(str(tmp_path / "c.db"))
        consumer = DurableConsumer(bus, conn, "typed_prod", "session", "cons", handler)
        async with LogWatch("bus.durable", "does not match") as logged:
            consumer.start()
            await asyncio.wait_for(logged.seen.wait(), 5)
        await consumer.stop()
        await bus.close()
        assert handled == [1] and consumer.cursor == 1  # nothing skipped, the bad entry not acknowledged
        assert len(logged.messages) == 1
        assert "entry 2" in logged.messages[0] and "'pluged_in' is not declared" in logged.messages[0]
        conn.close()


async def test_consumer_reports_a_missing_field(run_dir, broker, tmp_path) -> None:
    register_contract(TYPED_CONTRACT)
    async with Producer(run_dir, tmp_path / "p.db", UNTYPED_CONTRACT) as producer:
        await producer.append("session", "power_on", {"evse_id": 1})
        bus = BusClient(run_dir, "cons", strict=False)
        await bus.start()
        conn = open_db(str(tmp_path / "c.db"))
        consumer = DurableConsumer(bus, conn, "typed_prod", "session", "cons", {
            "plugged_in": lambda entry, conn: asyncio.sleep(0), "power_on": lambda entry, conn: asyncio.sleep(0)})
        async with LogWatch("bus.durable", "offered_current_a: missing") as logged:
            consumer.start()
            await asyncio.wait_for(logged.seen.wait(), 5)
        await consumer.stop()
        await bus.close()
        assert consumer.cursor == 0
        conn.close()


def test_handlers_by_kind_must_cover_exactly_the_declared_kinds(tmp_path) -> None:
    register_contract(TYPED_CONTRACT)
    conn = open_db(str(tmp_path / "c.db"))
    bus = BusClient(tmp_path, "cons", strict=False)

    async def noop(entry, conn) -> None:
        return None

    with pytest.raises(ValueError, match=r"undeclared kinds \['pluged_in'\], none for \['plugged_in'\]"):
        DurableConsumer(bus, conn, "typed_prod", "session", "cons", {"pluged_in": noop, "power_on": noop})
    DurableConsumer(bus, conn, "typed_prod", "session", "cons", {"plugged_in": noop, "power_on": noop})
    conn.close()
