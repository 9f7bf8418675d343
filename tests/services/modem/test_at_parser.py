"""The AT reply parsers and the line reader, on recorded reply shapes (no I/O)."""

from __future__ import annotations

import pytest

from services.modem import at_parser as p
from services.modem.at_lines import Discarded, LineReader


def test_final_result_codes_end_a_reply_and_carry_cme_code_and_text() -> None:
    assert p.parse_final("OK") == p.FinalResult(ok=True, kind="OK")
    assert p.parse_final("ERROR") == p.FinalResult(ok=False, kind="ERROR")
    assert p.parse_final("+CME ERROR: 10") == p.FinalResult(False, "CME", 10, "SIM not inserted")
    pin_required = p.FinalResult(False, "CME", 11, "SIM PIN required")
    assert p.parse_final("+CME ERROR: SIM PIN required") == pin_required
    assert p.parse_final("+CME ERROR: something odd") == p.FinalResult(False, "CME", None, "something odd")
    assert p.parse_final("+CMS ERROR: 500") == p.FinalResult(False, "CMS", 500, "")
    assert p.parse_final("+CSQ: 20,99") is None
    assert p.parse_final("Quectel") is None


def test_urcs_are_lines_not_asked_for() -> None:
    assert p.is_urc("RDY")
    assert p.is_urc("POWERED DOWN")
    assert p.is_urc("+QIND: SMS DONE", ("+CSQ:",))
    assert p.is_urc("+CPIN: READY")
    assert not p.is_urc("+CPIN: READY", ("+CPIN:",))
    assert not p.is_urc("+CSQ: 20,99", ("+csq:",))
    assert not p.is_urc("Quectel", ("+GCAP:",))
    assert not p.is_urc("+CME ERROR: 10")


def test_registration_urc_inside_a_registration_read_is_still_a_urc() -> None:
    assert p.is_urc("+CEREG: 1", ("+CEREG:",))
    assert p.is_urc('+CEREG: 1,"1A2B","01A2B3C",7', ("+CEREG:",))
    assert not p.is_urc("+CEREG: 0,1", ("+CEREG:",))
    assert not p.is_urc('+CEREG: 2,5,"1A2B","01A2B3C",7', ("+CEREG:",))


def test_ati_bare_lines_of_quectel() -> None:
    identity = p.parse_ati(["Quectel", "EC25", "Revision: EC25EFAR06A06M4G"])
    assert identity == p.Identity("Quectel", "EC25", "EC25EFAR06A06M4G")
    assert p.detect_vendor(identity) is p.Vendor.QUECTEL


def test_ati_keyed_lines_of_simcom_ignore_imei_and_gcap() -> None:
    lines = [
        "Manufacturer: SIMCOM INCORPORATED",
        "Model: SIMCOM_SIM7600E-H",
        "Revision: SIM7600M22_V2.0",
        "IMEI: 867584030123457",
        "+GCAP: +CGSM,+FCLASS,+DS",
    ]
    identity = p.parse_ati(lines)
    assert identity == p.Identity("SIMCOM INCORPORATED", "SIMCOM_SIM7600E-H", "SIM7600M22_V2.0")
    assert p.detect_vendor(identity) is p.Vendor.SIMCOM


@pytest.mark.parametrize(
    ("lines", "vendor"),
    [
        (["Manufacturer: u-blox", "Model: SARA-R410M-02B"], p.Vendor.UBLOX),
        (["SIM800 R14.18"], p.Vendor.SIMCOM),
        (["Acme Wireless", "AW100"], p.Vendor.GENERIC),
    ],
)
def test_vendor_is_detected_from_ati(lines: list[str], vendor: p.Vendor) -> None:
    assert p.detect_vendor(p.parse_ati(lines)) is vendor


def test_ati_without_identity_is_a_parse_error() -> None:
    with pytest.raises(p.AtParseError):
        p.parse_ati(["+GCAP: +CGSM"])


@pytest.mark.parametrize(
    ("lines", "revision"),
    [(["EC25EFAR06A06M4G"], "EC25EFAR06A06M4G"), (["+CGMR: LE20B04SIM7600M22"], "LE20B04SIM7600M22"),
     (["Revision: L0.0.00.00.05.08"], "L0.0.00.00.05.08")],
)
def test_cgmr_with_and_without_prefix(lines: list[str], revision: str) -> None:
    assert p.parse_revision(lines) == revision


def test_cgsn_with_and_without_prefix() -> None:
    assert p.parse_imei(["866758040123456"]) == "866758040123456"
    assert p.parse_imei(["+CGSN: 867584030123457"]) == "867584030123457"
    assert p.parse_imei(['+CGSN: "867584030123457"']) == "867584030123457"
    with pytest.raises(p.AtParseError):
        p.parse_imei(["86675804"])


@pytest.mark.parametrize(
    ("line", "iccid"),
    [
        ("+QCCID: 8949022100012345678F", "8949022100012345678F"),
        ("+ICCID: 89883030000005A1B2C3", "89883030000005A1B2C3"),
        ("+CCID: 89462046044000123456", "89462046044000123456"),
        ('+CCID: "89462046044000123456"', "89462046044000123456"),
        ("8931440400012345670F", "8931440400012345670F"),
    ],
)
def test_iccid_is_kept_as_the_sim_reports_it(line: str, iccid: str) -> None:
    assert p.parse_iccid([line]) == iccid


def test_iccid_that_is_not_hex_is_a_parse_error() -> None:
    with pytest.raises(p.AtParseError):
        p.parse_iccid(["+QCCID: 89490221000123ZZ"])


def test_crsm_ef_iccid_bytes_are_nibble_swapped_back() -> None:
    assert p.parse_crsm_iccid(['+CRSM: 144,0,"981344400010325476F0"']) == "8931440400012345670F"
    assert p.parse_crsm_iccid(["+CRSM: 144,0,98942201001032547698"]) == "89492210000123456789"


def test_crsm_with_an_error_status_word_is_a_parse_error() -> None:
    with pytest.raises(p.AtParseError):
        p.parse_crsm_iccid(['+CRSM: 106,130,""'])


def test_cimi_is_digits() -> None:
    assert p.parse_imsi(["262019876543210"]) == "262019876543210"
    with pytest.raises(p.AtParseError):
        p.parse_imsi(["ERRORISH"])


@pytest.mark.parametrize(("line", "dbm"), [("+CSQ: 20,99", -73), ("+CSQ: 0,0", -113), ("+CSQ: 31,99", -51),
                                           ("+CSQ: 99,99", None)])
def test_csq_to_dbm_with_99_unknown(line: str, dbm: int | None) -> None:
    assert p.parse_csq([line]) == dbm


def test_cops_registered_and_not() -> None:
    assert p.parse_cops(['+COPS: 0,0,"REWATT Mobile",7']) == p.OperatorInfo("REWATT Mobile", "LTE")
    assert p.parse_cops(['+COPS: 0,2,"26201",2']) == p.OperatorInfo("26201", "UTRAN")
    assert p.parse_cops(['+COPS: 0,0,"Tele, Inc",0']) == p.OperatorInfo("Tele, Inc", "GSM")
    assert p.parse_cops(["+COPS: 0"]) == p.OperatorInfo(None, None)


@pytest.mark.parametrize(
    ("line", "n", "registration"),
    [
        ("+CEREG: 0,1", 0, p.Registration.HOME),
        ("+CEREG: 2,5,\"1A2B\",\"01A2B3C\",7", 2, p.Registration.ROAMING),
        ("+CREG: 1,2", 1, p.Registration.SEARCHING),
        ("+CREG: 0,3", 0, p.Registration.DENIED),
        ("+CEREG: 0,0", 0, p.Registration.NOT_REGISTERED),
        ("+CEREG: 0,4", 0, p.Registration.UNKNOWN),
        ("+CEREG: 1", None, p.Registration.HOME),
        ("+CEREG: 5,\"1A2B\",\"01A2B3C\",7", None, p.Registration.ROAMING),
    ],
)
def test_registration_with_and_without_n(line: str, n: int | None, registration: p.Registration) -> None:
    report = p.parse_registration(line)
    assert (report.n, report.registration) == (n, registration)


def test_best_registration_prefers_registered_domain() -> None:
    both = [p.Registration.NOT_REGISTERED, p.Registration.HOME]
    assert p.best_registration(both) is p.Registration.HOME
    assert p.best_registration([]) is p.Registration.UNKNOWN


def test_cpin_reply_and_cme_errors_give_sim_status() -> None:
    assert p.parse_cpin(["+CPIN: READY"]) is p.SimStatus.READY
    assert p.parse_cpin(["+CPIN: SIM PIN"]) is p.SimStatus.PIN_REQUIRED
    assert p.parse_cpin(["+CPIN: SIM PUK"]) is p.SimStatus.PUK_REQUIRED
    assert p.parse_cpin(["+CPIN: PH-NET PIN"]) is p.SimStatus.LOCKED
    not_inserted = p.parse_final("+CME ERROR: SIM not inserted")
    assert not_inserted is not None
    assert p.sim_status_from_error(not_inserted) is p.SimStatus.NOT_INSERTED
    assert p.sim_status_from_error(p.FinalResult(False, "CME", 14, "")) is p.SimStatus.BUSY
    assert p.sim_status_from_error(p.FinalResult(False, "ERROR")) is p.SimStatus.UNKNOWN


def test_line_reader_splits_echo_and_replies_across_chunks() -> None:
    reader = LineReader()
    assert reader.feed(b"AT+CSQ\r\r\n+CS") == ["AT+CSQ"]
    assert reader.feed(b"Q: 20,99\r\n\r\nOK\r\n") == ["+CSQ: 20,99", "OK"]


def test_line_reader_discards_garbage_and_keeps_the_next_line() -> None:
    reader = LineReader()
    items = reader.feed(b"\xff\xfe\x13junk\r\n\x00\x00OK\r\n")
    assert isinstance(items[0], Discarded) and items[0].reason == "garbage"
    assert items[1:] == ["OK"]


def test_line_reader_discards_an_over_long_line_once_across_chunks() -> None:
    reader = LineReader(max_line_bytes=16)
    items = reader.feed(b"A" * 20) + reader.feed(b"B" * 30) + reader.feed(b"C\r\nOK\r\n")
    assert [type(item) for item in items] == [Discarded, str]
    assert items[1] == "OK"
    assert reader.feed(b"D" * 17 + b"\r\n") == [Discarded("overlong", b"D" * 17)]
