"""Durability (API.md §7): ok 0 only after commit; durable store settings, or a warning.

SQLite runs in WAL with synchronous=FULL unless told otherwise, read back from the writing
connection itself; PostgreSQL with synchronous_commit=off, or SQLite set NORMAL, makes the
server warn at start and ``/healthz`` say ``durable: false``. A reply of ok 0 means a brand
new connection already sees the write.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from huihua.store.engine import store_kind
from huihua.store.tables import chat_messages
from tests.conftest import POSTGRES_URL, Api, Databases


def writer_pragma(api: Api, pragma: str) -> Any:
    """Return ``PRAGMA <pragma>`` as the SQLite writer connection sees it."""
    store = api.app.state.store
    return asyncio.run(store.write(lambda conn: conn.execute_text(f"PRAGMA {pragma}")))


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the warnings (and worse) huihua logged."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("huihua") and r.levelno >= logging.WARNING
    ]


def healthz(api: Api) -> httpx.Response:
    return api.http.get("/healthz")


def stored_messages(database_url: str, user_id: str, session_id: str) -> list[tuple[int, str]]:
    """Return (seq, msg) of a session as read by a new engine, on a new connection."""
    engine = create_engine(store_kind(database_url).url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            m = chat_messages
            rows = conn.execute(
                select(m.c.seq, m.c.msg)
                .where(m.c.user_id == user_id, m.c.session_id == session_id)
                .order_by(m.c.seq)
            ).all()
        return [(row.seq, row.msg) for row in rows]
    finally:
        engine.dispose()


def test_sqlite_writer_is_wal_with_synchronous_full_by_default(serve: Callable[..., Api]) -> None:
    api = serve("sqlite")
    assert api.settings.sqlite_synchronous.upper() == "FULL"
    assert writer_pragma(api, "synchronous") == 2  # FULL
    assert str(writer_pragma(api, "journal_mode")).lower() == "wal"
    assert api.app.state.store.warnings == []


def test_healthz_says_durable_by_default(api: Api) -> None:
    response = healthz(api)
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] == 0
    assert body["store"] == api.kind
    assert body["durable"] is True
    assert body["warnings"] == []


def test_sqlite_synchronous_normal_warns(
    serve: Callable[..., Api], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="huihua"):
        api = serve("sqlite", sqlite_synchronous="NORMAL")
    assert writer_pragma(api, "synchronous") == 1  # NORMAL, as asked
    warned = warnings_logged(caplog)
    assert any("synchronous" in line for line in warned), warned
    body = healthz(api).json()
    assert body["ok"] == 0
    assert body["durable"] is False
    assert any("synchronous" in w for w in body["warnings"]), body
    # Still serves.
    user_id = api.new_user()
    assert api.call("/add_chat", user_id=user_id, role="user", msg="m")["ok"] == 0


@pytest.mark.postgresql
def test_postgresql_synchronous_commit_off_warns(
    databases: Databases, serve: Callable[..., Api], caplog: pytest.LogCaptureFixture
) -> None:
    url = databases.create("postgresql")
    name = make_url(url).database
    admin = create_engine(
        make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        admin.dispose()
    with caplog.at_level(logging.WARNING, logger="huihua"):
        api = serve("postgresql", database_url=url)
    warned = warnings_logged(caplog)
    assert any("synchronous_commit" in line for line in warned), warned
    body = healthz(api).json()
    assert body["ok"] == 0
    assert body["durable"] is False
    assert any("synchronous_commit" in w for w in body["warnings"]), body


def test_acknowledged_write_is_seen_by_a_new_connection(api: Api, user: str) -> None:
    session_id = f"s-{uuid.uuid4().hex[:16]}"
    url = api.settings.database_url
    for seq in (1, 2, 3):
        reply = api.call(
            "/add_chat", user_id=user, session_id=session_id, role="user", msg=f"m{seq}"
        )
        assert reply["ok"] == 0 and reply["seq"] == seq
        assert stored_messages(url, user, session_id)[-1] == (seq, f"m{seq}")
    deleted = api.call("/delete_specific_session", user_id=user, session_id=session_id)
    assert deleted["ok"] == 0
    assert stored_messages(url, user, session_id) == []


def test_each_acknowledged_write_of_a_concurrent_batch_is_committed(api: Api) -> None:
    """Under group commit too: the moment a reply says ok 0, its message is stored."""
    url = api.settings.database_url
    users = [api.new_user() for _ in range(4)]
    bodies = [
        {"user_id": users[i % 4], "session_id": f"s-{i}", "role": "user", "msg": f"m{i}"}
        for i in range(16)
    ]
    seen: list[str] = []

    async def post_and_check(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
        response = await client.post("/add_chat", json=body)
        reply = response.json()
        assert reply["ok"] == 0, reply
        # Checked before any other task runs: a blocking read on a new connection.
        rows = stored_messages(url, body["user_id"], body["session_id"])
        assert rows == [(1, body["msg"])], (body, rows)
        seen.append(body["msg"])

    async def run() -> None:
        limits = httpx.Limits(max_connections=len(bodies))
        async with httpx.AsyncClient(base_url=api.base_url, timeout=60, limits=limits) as client:
            await asyncio.gather(*(post_and_check(client, body) for body in bodies))

    asyncio.run(run())
    assert sorted(seen) == sorted(b["msg"] for b in bodies)
