"""The transaction runner's seams, on every store: process tuning, snapshots, retries.

Each test opens a store of its own (``open_store`` after ``migrate``, as the app does) and
drives it through ``Store.write``, ``read`` and ``snapshot`` with the real queries. The
SQLite runner's writes must run inside a running event loop: each test is one
``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import MySQLdb
import psycopg
import pytest
from sqlalchemy import create_engine, func, insert, select

from huihua import logs
from huihua.config import Settings
from huihua.errors import StorageUnavailable
from huihua.store import Store, migrate, open_store
from huihua.store import queries as q
from huihua.store.engine import store_kind as url_of
from huihua.store.runner import MAX_ATTEMPTS
from huihua.store.runner.sqlite import GIL_SWITCH_S
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages
from tests.conftest import Databases


def opened(databases: Databases, kind: str, **changes: Any) -> Store:
    """Return a store on a new, migrated database of this kind."""
    settings = Settings(database_url=databases.create(kind), **changes)
    migrate(settings)
    return open_store(settings)


@pytest.fixture
def store(databases: Databases, store_kind: str) -> Iterator[Store]:
    """An open store of each kind on a new database, closed at the end."""
    made = opened(databases, store_kind)
    yield made
    made.close()


# -- process tuning -----------------------------------------------------------------------


def test_sqlite_shortens_the_gil_switch_interval_while_a_runner_is_open(
    databases: Databases,
) -> None:
    before = sys.getswitchinterval()
    first = opened(databases, "sqlite")
    second = opened(databases, "sqlite")
    try:
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_S)
        first.close()
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_S)  # the second is still open
    finally:
        second.close()
    assert sys.getswitchinterval() == before
    first.close()  # a second close gives nothing back twice
    assert sys.getswitchinterval() == before


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_server_stores_leave_the_gil_switch_interval_alone(databases: Databases, kind: str) -> None:
    before = sys.getswitchinterval()
    made = opened(databases, kind)
    try:
        assert sys.getswitchinterval() == before
    finally:
        made.close()
    assert sys.getswitchinterval() == before


# -- what a store error logs --------------------------------------------------------------

DUPLICATE_CODE = {
    "sqlite": "sqlite3.IntegrityError sqlite=SQLITE_CONSTRAINT_PRIMARYKEY/1555",
    "postgresql": "psycopg.errors.UniqueViolation sqlstate=23505",
    "mysql": "MySQLdb.IntegrityError errno=1062",
}


def add_user(user_id: str) -> Callable[[Db], str]:
    def unit(db: Db) -> str:
        return q.insert_user(db, user_id, user_name="n", phone="", email="", profile=None, now=1)

    return unit


def test_describe_names_the_driver_and_its_code_never_the_message(store: Store) -> None:
    user_id = f"u-LOGCANARY-{uuid.uuid4().hex}"
    asyncio.run(store.write(add_user(user_id)))
    with pytest.raises(Exception) as caught:
        asyncio.run(store.write(add_user(user_id)))  # the same key: retried, then raised
    described = logs.describe(caught.value)
    assert described.startswith(DUPLICATE_CODE[store.kind] + " at "), described
    assert str(caught.value) not in described
    assert "LOGCANARY" not in described


def test_driver_codes_of_errors_made_by_hand() -> None:
    assert logs.driver_code(psycopg.errors.SerializationFailure("x")) == "sqlstate=40001"
    assert logs.driver_code(MySQLdb.OperationalError(1213, "Deadlock x")) == "errno=1213"
    assert logs.driver_code(MySQLdb.OperationalError("no number")) == ""
    assert logs.driver_code(ValueError(1213)) == ""  # a value, perhaps a request's
    assert logs.driver_code(sqlite3.OperationalError("made by hand: no code")) == ""
    chained = RuntimeError("outer SECRET")
    chained.__cause__ = MySQLdb.IntegrityError(1062, "Duplicate entry 'SECRET'")
    assert logs.error_classes(chained) == (
        "builtins.RuntimeError; caused by MySQLdb.IntegrityError errno=1062"
    )


# -- a consistent snapshot ----------------------------------------------------------------

COUNT_MESSAGES = Statement(select(func.count().label("n")).select_from(chat_messages))


def seed(store: Store) -> tuple[str, str]:
    """Return a new user and session of theirs, holding one message (seq 1)."""
    user_id, session_id = f"u-{uuid.uuid4().hex}", f"s-{uuid.uuid4().hex[:12]}"

    def unit(db: Db) -> None:
        add_user(user_id)(db)
        q.insert_session(db, user_id, session_id, "title", 1)
        q.insert_message(db, user_id, session_id, 1, 1, "user", "first", None)

    asyncio.run(store.write(unit))
    return user_id, session_id


def append(user_id: str, session_id: str, msg: str) -> Callable[[Db], int]:
    """Return a write that appends a message to an existing session; it returns the seq."""

    def unit(db: Db) -> int:
        seq = q.bump_session(db, user_id, session_id, 2, None)
        assert seq is not None
        q.insert_message(db, user_id, session_id, seq, 2, "user", msg, None)
        return seq

    return unit


def everything(user_id: str, session_id: str) -> Callable[[Db], tuple[Any, ...]]:
    """Return a read of the user's whole state, in several statements."""

    def read(db: Db) -> tuple[Any, ...]:
        sessions = q.list_sessions(db, user_id, 100, None)
        found = q.session_messages(db, user_id, session_id, 1000, None)
        assert found is not None
        return (
            db.scalar(COUNT_MESSAGES),
            [tuple(row) for row in sessions],
            [(row[2], row[1]) for row in found[1]],
        )

    return read


def test_a_snapshot_sees_one_moment_whatever_commits_meanwhile(store: Store) -> None:
    user_id, session_id = seed(store)
    read_all = everything(user_id, session_id)
    first_read, resume = threading.Event(), threading.Event()

    def export(db: Db) -> tuple[Any, Any]:
        before = read_all(db)
        first_read.set()
        assert resume.wait(30)
        return before, read_all(db)

    async def scenario() -> tuple[Any, Any, Any]:
        exporting = asyncio.ensure_future(store.snapshot(export))
        assert await asyncio.to_thread(first_read.wait, 30)
        for n in range(3):  # committed while the export is between its reads
            await asyncio.wait_for(store.write(append(user_id, session_id, f"m{n}")), 30)
        resume.set()
        before, after = await exporting
        return before, after, await store.read(read_all)

    before, after, plain = asyncio.run(scenario())
    assert after == before
    assert before[0] == 1 and before[2] == [(1, "first")]
    assert plain[0] == 4
    assert plain[2] == [(4, "m2"), (3, "m1"), (2, "m0"), (1, "first")]
    assert plain[1][0][4] == 4  # the session's chat_count


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_a_snapshot_is_read_only_and_leaves_its_connection_as_it_was(
    databases: Databases, kind: str
) -> None:
    url = databases.create(kind)
    settings = Settings(database_url=url, pool_size=1)  # every call on the one connection
    migrate(settings)
    made = open_store(settings)
    outside = create_engine(url_of(url).url, isolation_level="AUTOCOMMIT")
    try:
        user_id, session_id = seed(made)
        assert asyncio.run(made.snapshot(lambda db: db.scalar(COUNT_MESSAGES))) == 1

        def unit(db: Db) -> tuple[int, int]:
            first = db.scalar(COUNT_MESSAGES)
            with outside.connect() as conn:  # another connection commits a message
                conn.execute(
                    insert(chat_messages).values(
                        user_id=user_id,
                        session_id="elsewhere",
                        seq=1,
                        role="user",
                        msg="outside",
                        created_at=3,
                    )
                )
            second = db.scalar(COUNT_MESSAGES)
            append(user_id, session_id, "after the snapshot")(db)  # and it can write
            return first, second

        # The next transaction on the same connection: READ COMMITTED again, it sees the
        # outside commit at its second statement.
        assert asyncio.run(made.write(unit)) == (1, 2)
        with pytest.raises(Exception) as caught:
            asyncio.run(made.snapshot(append(user_id, session_id, "refused")))
        code = {"postgresql": "sqlstate=25006", "mysql": "errno=1792"}[kind]
        assert code in logs.error_classes(caught.value)
        assert asyncio.run(made.read(lambda db: db.scalar(COUNT_MESSAGES))) == 3
    finally:
        made.close()
        outside.dispose()


# -- the retry path, through an injected fault --------------------------------------------

# Errors each runner takes for "run the transaction again", as its driver raises them.
RETRYABLE: dict[str, list[Callable[[], Exception]]] = {
    "sqlite": [lambda: sqlite3.IntegrityError("injected: a twin's key")],
    "postgresql": [
        lambda: psycopg.errors.SerializationFailure("injected"),  # 40001
        lambda: psycopg.errors.DeadlockDetected("injected"),  # 40P01
    ],
    "mysql": [
        lambda: MySQLdb.OperationalError(1213, "injected: deadlock, or Galera certification"),
        lambda: MySQLdb.OperationalError(1205, "injected: lock wait timeout"),
        lambda: MySQLdb.OperationalError(1047, "injected: WSREP has not yet prepared node"),
        lambda: MySQLdb.OperationalError(1180, "injected: Got error 6 during COMMIT"),
    ],
}
# The runs a write gets: SQLite runs a failed write of a group again in a savepoint of its
# own, and once more there when its error is retryable; the pooled runner runs a conflict
# again for as long as its time budget allows (this many failures fit in the default).
ATTEMPTS = {"sqlite": 3, "postgresql": MAX_ATTEMPTS, "mysql": MAX_ATTEMPTS}


class Fault:
    """Raises an error the first ``times`` calls; counts every call."""

    def __init__(self, make: Callable[[], Exception], times: int) -> None:
        self.make = make
        self.times = times
        self.calls = 0

    def __call__(self, db: Db) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise self.make()


def with_fault(store: Store, fault: Fault, unit: Callable[[Db], Any]) -> Any:
    """Run ``unit`` as a write with ``fault`` injected; return what it returns."""
    store.runner.inject_fault(fault)
    try:
        return asyncio.run(store.write(unit))
    finally:
        store.runner.inject_fault(None)


def test_a_retryable_failure_runs_the_write_again_whole_and_commits_it_once(
    store: Store,
) -> None:
    user_id, session_id = seed(store)
    attempts = ATTEMPTS[store.kind]
    messages = [(1, "first")]
    for n, make in enumerate(RETRYABLE[store.kind]):
        for fails in range(1, attempts):  # up to every run but the last
            fault = Fault(make, fails)
            msg = f"m{n}-{fails}"
            seq = with_fault(store, fault, append(user_id, session_id, msg))
            assert fault.calls == fails + 1  # the failed runs, then the one that committed
            assert seq == len(messages) + 1
            messages.append((seq, msg))
    count, sessions, stored = asyncio.run(store.read(everything(user_id, session_id)))
    assert stored == messages[::-1]  # each once, at the seq its write answered
    assert count == len(messages) and sessions[0][4] == len(messages)


def test_sqlite_fails_a_write_past_its_reruns_and_writes_nothing(databases: Databases) -> None:
    made = opened(databases, "sqlite")
    try:
        user_id, session_id = seed(made)
        before = asyncio.run(made.read(everything(user_id, session_id)))
        for make in RETRYABLE["sqlite"]:
            fault = Fault(make, times=10**6)
            with pytest.raises(type(make())):
                with_fault(made, fault, append(user_id, session_id, "never stored"))
            assert fault.calls == ATTEMPTS["sqlite"]
        assert asyncio.run(made.read(everything(user_id, session_id))) == before
        assert asyncio.run(made.write(append(user_id, session_id, "after"))) == 2
    finally:
        made.close()


def test_a_fault_in_one_write_of_a_group_leaves_the_others_whole(databases: Databases) -> None:
    made = opened(databases, "sqlite")
    try:
        user_id, session_id = seed(made)
        doomed = f"u-{uuid.uuid4().hex}"

        def fault(db: Db) -> None:  # fails the one write that added the doomed user
            if q.user_exists(db, doomed):
                raise sqlite3.IntegrityError("injected")

        async def group() -> list[Any]:
            writes = [append(user_id, session_id, f"g{n}") for n in range(3)]
            writes.insert(1, add_user(doomed))
            return await asyncio.gather(*(made.write(w) for w in writes), return_exceptions=True)

        made.runner.inject_fault(fault)
        try:
            outcomes = asyncio.run(group())
        finally:
            made.runner.inject_fault(None)
        assert outcomes[0] == 2 and outcomes[2:] == [3, 4]
        assert isinstance(outcomes[1], sqlite3.IntegrityError)
        assert not asyncio.run(made.read(lambda db: q.user_exists(db, doomed)))
        assert asyncio.run(made.read(everything(user_id, session_id)))[0] == 4
    finally:
        made.close()


UNAVAILABLE_CODE = {
    "sqlite": "sqlite3.OperationalError sqlite=SQLITE_ERROR/1",
    "postgresql": "psycopg.errors.AdminShutdown sqlstate=57P01",
    "mysql": "MySQLdb.OperationalError errno=2013",
}


def unavailable_fault(kind: str) -> Callable[[Db], None]:
    """Return a fault that fails with an error meaning "the store is unavailable"."""

    def fault(db: Db) -> None:
        if kind == "sqlite":  # a real one, with its extended code
            db.execute_text("SELECT LOGCANARY FROM users")
        elif kind == "postgresql":
            raise psycopg.errors.AdminShutdown("terminating connection LOGCANARY")
        else:
            raise MySQLdb.OperationalError(2013, "Lost connection LOGCANARY")

    return fault


def test_store_unavailable_is_logged_with_class_and_code_never_the_message(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    user_id, session_id = seed(store)
    caplog.set_level(logging.WARNING, logger="huihua.store")
    store.runner.inject_fault(unavailable_fault(store.kind))
    try:
        with pytest.raises(StorageUnavailable):
            asyncio.run(store.write(append(user_id, session_id, "never stored")))
    finally:
        store.runner.inject_fault(None)
    warned = [r.getMessage() for r in caplog.records if r.name == "huihua.store"]
    assert warned, caplog.records
    assert all(m.startswith("store unavailable: ") for m in warned), warned
    assert any(UNAVAILABLE_CODE[store.kind] in m for m in warned), warned
    assert not any("LOGCANARY" in m for m in warned), warned
    assert asyncio.run(store.read(everything(user_id, session_id)))[0] == 1
