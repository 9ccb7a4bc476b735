"""The transaction runner's seams, on every store: process tuning, snapshots, retries.

Each test opens a store of its own (``open_store`` after ``migrate``, as the app does) and
drives it through ``Store.write``, ``read`` and ``snapshot`` with the real queries. The
SQLite runner's writes must run inside a running event loop: each test is one
``asyncio.run``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from huihua.config import Settings
from huihua.store import Store, migrate, open_store
from huihua.store.runner.sqlite import GIL_SWITCH_S
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
