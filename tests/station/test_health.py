"""Problems a person must see, and the low-disk check that refuses new records before they would be lost."""

from __future__ import annotations

from pathlib import Path

from station import health


def test_low_disk_is_reported_once_and_cleared_when_space_returns(tmp_path: Path) -> None:
    assert health.check_disk(tmp_path, low_bytes=1) is True
    assert not any("low disk" in p for p in health.problems())
    assert health.check_disk(tmp_path, low_bytes=1 << 60) is False
    assert [p for p in health.problems() if "low disk" in p and str(tmp_path) in p]
    assert health.check_disk(tmp_path, low_bytes=1) is True
    assert not any("low disk" in p for p in health.problems())


def test_a_problem_is_keyed_so_a_repeat_does_not_duplicate_it() -> None:
    health.report("x", "one")
    health.report("x", "one")
    health.report("x", "two")
    assert health.problems().count("two") == 1 and "one" not in health.problems()
    health.clear("x")
    assert "two" not in health.problems()
