"""station.sqlite: the one unit of work every program uses, on a real database file."""

import pytest

from station.sqlite import atomic, open_db


def test_a_unit_that_fails_leaves_nothing_and_one_that_succeeds_is_committed(tmp_path) -> None:
    conn = open_db(str(tmp_path / "x.db"))
    conn.execute("CREATE TABLE t (v INTEGER)")
    with pytest.raises(RuntimeError), atomic(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("effect failed")
    with atomic(conn):
        conn.execute("INSERT INTO t VALUES (2)")
    conn.close()
    assert [r[0] for r in open_db(str(tmp_path / "x.db")).execute("SELECT v FROM t")] == [2]


def test_inside_an_open_transaction_a_failed_unit_undoes_only_itself(tmp_path) -> None:
    conn = open_db(str(tmp_path / "x.db"))
    conn.execute("CREATE TABLE t (v INTEGER)")
    with atomic(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError), atomic(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError("inner unit failed")
        assert conn.in_transaction  # the caller's transaction is still the caller's
    assert [r[0] for r in conn.execute("SELECT v FROM t")] == [1]
