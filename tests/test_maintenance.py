"""The operator's commands on a live store: `huihua backup` while a server writes, `huihua
stats`, `huihua purge`, and the server's own background retention sweeps (API.md §7)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import create_engine, text

from .conftest import _driver
from .test_cli import HUIHUA, _env
from .test_lifecycle import serve as serve_process
from .test_lifecycle import stop

if TYPE_CHECKING:
    from .conftest import Api

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def huihua(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUIHUA, *args], env=_env(), capture_output=True, text=True, timeout=300, check=False
    )


def sql(api: Api, statement: str, **params: object) -> None:
    url = api.settings.database_url
    engine = create_engine(url if api.kind == "sqlite" else _driver(url))
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_backup_is_one_consistent_moment_while_the_server_writes(tmp_path: Path) -> None:
    served = serve_process(tmp_path, log_level="warning")
    acked: list[tuple[str, int, float]] = []  # (session, seq, when acknowledged)
    stopping = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(base_url=served.base, timeout=30) as http:
            assert http.post("/add_user", json={"user_id": f"w{n}"}).json()["ok"] == 0
            while not stopping.is_set():
                reply = http.post(
                    "/add_chat",
                    json={"user_id": f"w{n}", "session_id": f"s{n}", "role": "user", "msg": "m"},
                ).json()
                assert reply["ok"] == 0, reply
                acked.append((f"s{n}", reply["seq"], time.monotonic()))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        while len(acked) < 400:
            time.sleep(0.01)
        started = time.monotonic()
        copy = tmp_path / "copy.db"
        result = huihua("backup", str(copy), "--database-url", f"sqlite:///{tmp_path}/huihua.db")
        writes_during = sum(1 for *_, when in acked if when > started)
    finally:
        stopping.set()
        for thread in threads:
            thread.join(timeout=60)
        stop(served)
    assert result.returncode == 0, result.stderr
    assert re.match(r"backed up .*huihua\.db to .*copy\.db: [\d,]+ bytes in", result.stdout)
    assert writes_during > 0  # the server did write while the copy was made
    assert not Path(f"{copy}-wal").exists()
    db = sqlite3.connect(copy)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # one moment: each session's row agrees with its messages, none half there
    rows = db.execute(
        "SELECT s.session_id, s.chat_count, COUNT(m.seq), MAX(m.seq) FROM chat_sessions s "
        "JOIN chat_messages m USING (user_id, session_id) GROUP BY s.user_id, s.session_id"
    ).fetchall()
    assert len(rows) == 4
    for session_id, count, messages, highest in rows:
        assert count == messages == highest, session_id
    # every write acknowledged before the copy began is in it
    kept = dict((s, c) for s, c, _, _ in rows)
    for session_id, seq, when in acked:
        if when < started:
            assert seq <= kept[session_id]
    db.close()
    again = huihua("backup", str(copy), "--database-url", f"sqlite:///{tmp_path}/huihua.db")
    assert again.returncode != 0 and "exists" in again.stderr


@pytest.mark.postgresql
def test_backup_of_a_server_store_says_how(databases) -> None:
    url = databases.create("postgresql")
    result = huihua("backup", "x.db", "--database-url", url)
    assert result.returncode != 0 and "pg_dump" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_stats(serve, kind: str) -> None:
    api: Api = serve(kind)
    for _ in range(2):
        user_id = api.new_user()
        for msg in ("a", "b", "c"):
            reply = api.call("/add_chat", user_id=user_id, session_id="s", role="user", msg=msg)
            assert reply["ok"] == 0
    result = huihua("stats", "--database-url", api.settings.database_url)
    assert result.returncode == 0, result.stderr
    found = dict(re.findall(r"^([a-z ]+):\s+(.*)$", result.stdout, re.M))
    assert found["store"] == kind
    assert (found["users"], found["sessions"], found["messages"]) == ("2", "2", "6")
    assert int(found["size on disk"].split()[0].replace(",", "")) > 0
    for name in ("oldest activity", "newest activity"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", found[name]), found


def _aged(api: Api, messages_in_old: int) -> tuple[str, list[str]]:
    """Return a user with a session 'old' idle for 40 days (``messages_in_old`` messages),
    a session 'new', and the request ids of three writes made 25 hours ago."""
    user_id = api.new_user()
    old_ids = []
    for n in range(messages_in_old):
        request_id = f"old-{uuid.uuid4().hex}"
        body = {"user_id": user_id, "session_id": "old", "role": "user", "msg": f"m{n}"}
        assert api.call("/add_chat", request_id=request_id, **body)["ok"] == 0
        if n < 3:
            old_ids.append(request_id)
    body = {"user_id": user_id, "session_id": "new", "role": "user", "msg": "recent"}
    assert api.call("/add_chat", request_id="recent-1", **body)["ok"] == 0
    sql(
        api,
        "UPDATE chat_sessions SET updated_at = updated_at - :d WHERE session_id = 'old'",
        d=40 * DAY_MS,
    )
    sql(
        api,
        "UPDATE idempotency_records SET created_at = created_at - :h "
        "WHERE request_id IN (:a, :b, :c)",
        h=25 * HOUR_MS,
        a=old_ids[0],
        b=old_ids[1],
        c=old_ids[2],
    )
    return user_id, old_ids


def _replayed(api: Api, user_id: str, request_id: str, msg: str) -> bool:
    """Return whether a write's request id is still remembered (its reply replayed)."""
    body = {"user_id": user_id, "session_id": "probe", "role": "user", "msg": msg}
    reply = api.call("/add_chat", request_id=request_id, **body)
    return reply["ok"] == 5  # remembered for another request: a conflict


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_purge_removes_expired_records_then_idle_sessions_in_batches(serve, kind: str) -> None:
    api: Api = serve(kind)
    messages = 520 if kind == "sqlite" else 5  # 200 a batch: three batches, then the session
    user_id, old_ids = _aged(api, messages)
    url = api.settings.database_url
    kept = huihua("purge", "--database-url", url)
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.startswith("removed 3 idempotency records, 0 idle sessions with 0 "), (
        kept.stdout
    )
    assert api.call("/query_session_info", user_id=user_id, session_id="old")["ok"] == 0
    result = huihua("purge", "--database-url", url, "--retention-days", "30")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"removed 0 idempotency records, 1 idle sessions with {messages} messages"
    ), result.stdout
    assert api.call("/query_session_info", user_id=user_id, session_id="old")["ok"] == 2
    new = api.call("/query_session_info", user_id=user_id, session_id="new")
    assert [c["msg"] for c in new["chats"]] == ["recent"]
    assert not _replayed(api, user_id, old_ids[0], "x")  # forgotten: a new write
    assert _replayed(api, user_id, "recent-1", "x")  # within its window: remembered


def test_the_server_sweeps_in_the_background(serve) -> None:
    api: Api = serve("sqlite", purge_interval=1, retention_days=30)
    user_id, old_ids = _aged(api, 3)
    deadline = time.monotonic() + 30
    while api.call("/query_session_info", user_id=user_id, session_id="old")["ok"] != 2:
        assert time.monotonic() < deadline, "the idle session was not swept"
        time.sleep(0.2)
    assert not _replayed(api, user_id, old_ids[1], "y")
    assert api.call("/query_session_info", user_id=user_id, session_id="new")["ok"] == 0
