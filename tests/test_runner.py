"""The transaction runner's seams, on every store: process tuning, snapshots, retries.

Each test opens a store of its own (``open_store`` after ``migrate``, as the app does) and
drives it through ``Store.write``, ``read`` and ``snapshot`` with the real queries. The
SQLite runner's writes must run inside a running event loop: each test is one
``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import MySQLdb
import psycopg
import pytest

from huihua import logs
from huihua.config import Settings
from huihua.store import Store, migrate, open_store
from huihua.store import queries as q
from huihua.store.runner.sqlite import GIL_SWITCH_S
from huihua.store.sql import Db
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
