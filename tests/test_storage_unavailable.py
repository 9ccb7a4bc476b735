"""Storage unavailable (API.md §1, §7): ok 8 / 503, nothing written, and recovery.

A PostgreSQL database is made unreachable under a running server (connections refused,
the pooled ones terminated): every endpoint answers ok 8 with status 503 and a reason that
leaks no SQL, host or password; once the database accepts connections again the same
server serves ok 0. A server whose database schema is not current refuses to start.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from huihua.config import Settings
from huihua.store import StoreError, open_store
from tests.conftest import POSTGRES_URL, Api, Databases


@contextmanager
def postgres_admin() -> Iterator[Any]:
    engine = create_engine(
        make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def cut_off(name: str) -> None:
    """Refuse new connections to database ``name`` and end the ones it has."""
    with postgres_admin() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )


def reconnect(name: str) -> None:
    with postgres_admin() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))


def assert_unavailable(response: Any, url: str, request_id: str | None = None) -> None:
    body = response.json()
    assert response.status_code == 503, body
    assert body["ok"] == 8, body
    if request_id is not None:
        assert body["request_id"] == request_id
    failed = body["failed"]
    assert "storage" in failed.lower() and "unavailable" in failed.lower(), failed
    parsed = make_url(url)
    leaks = [
        "select",
        "insert",
        "update ",
        "delete from",
        "fatal",
        "psycopg",
        "sqlalchemy",
        "connection to server",
        "password",
        "traceback",
        str(parsed.host),
        str(parsed.database),
        str(parsed.port or 5432),
        url,
    ]
    if parsed.username:
        leaks.append(f"{parsed.username}@")
    if parsed.password:
        leaks.append(str(parsed.password))
    for leak in leaks:
        assert leak.lower() not in failed.lower(), (leak, failed)


@pytest.mark.postgresql
def test_postgresql_unreachable_answers_ok_8_then_recovers(
    databases: Databases, serve: Callable[..., Api]
) -> None:
    url = databases.create("postgresql")
    name = make_url(url).database
    api = serve("postgresql", database_url=url)
    user_id = api.new_user()
    session_id = f"s-{uuid.uuid4().hex[:16]}"
    made = api.call("/add_chat", user_id=user_id, session_id=session_id, role="user", msg="m1")
    assert made["ok"] == 0

    calls: list[tuple[str, dict[str, Any]]] = [
        ("/query_user_info", {"user_id": user_id}),
        ("/query_session_names", {"user_id": user_id}),
        ("/query_session_info", {"user_id": user_id, "session_id": session_id}),
        ("/add_user", {"user_id": user_id, "user_name": "changed"}),
        ("/add_chat", {"user_id": user_id, "session_id": session_id, "role": "ai", "msg": "x"}),
        ("/add_chat", {"user_id": user_id, "role": "user", "msg": "a new session"}),
        ("/delete_specific_session", {"user_id": user_id, "session_id": session_id}),
        ("/delete_sessions", {"user_id": user_id}),
    ]
    write_id = f"r-{uuid.uuid4().hex}"
    retried = {
        "request_id": write_id,
        "user_id": user_id,
        "session_id": session_id,
        "role": "ai",
        "msg": "retried later",
    }
    cut_off(name)
    try:
        for path, body in calls:
            request_id = f"r-{uuid.uuid4().hex}"
            assert_unavailable(api.post(path, body | {"request_id": request_id}), url, request_id)
        assert_unavailable(api.post("/add_chat", retried), url, write_id)
        health = api.http.get("/healthz")
        assert health.status_code == 503, health.json()
        assert health.json()["ok"] == 8
    finally:
        reconnect(name)

    # The same server, the same pool: ok 0 again at once.
    health = api.http.get("/healthz")
    assert health.status_code == 200, health.json()
    assert health.json()["ok"] == 0
    info = api.call("/query_user_info", user_id=user_id)
    assert info["ok"] == 0, info
    assert info["user_name"] == "tester"  # the refused add_user wrote nothing
    chats = api.call("/query_session_info", user_id=user_id, session_id=session_id)
    assert chats["ok"] == 0, chats
    assert [c["msg"] for c in chats["chats"]] == ["m1"]  # nothing of the outage was written
    assert len(api.call("/query_session_names", user_id=user_id)["sessions"]) == 1
    # ok 8 recorded nothing: the retry with the same request_id now writes.
    again = api.post("/add_chat", retried)
    assert again.status_code == 200, again.json()
    assert again.json()["seq"] == 2
    assert api.call("/add_chat", user_id=user_id, role="user", msg="after")["ok"] == 0


# uvicorn ends its thread with SystemExit when the lifespan fails: expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_server_refuses_to_start_on_an_unmigrated_database(
    serve: Callable[..., Api], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="did not start"):
        serve(kind, migrated=False)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "StoreError" in logged and "huihua migrate" in logged, logged


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_open_store_on_an_unmigrated_database_says_to_migrate(
    databases: Databases, kind: str
) -> None:
    settings = Settings(database_url=databases.create(kind))
    with pytest.raises(StoreError, match="huihua migrate"):
        open_store(settings)
