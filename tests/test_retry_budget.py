"""The pooled runner's retry rule: conflicts are run again within a time budget, then ok 8.

PostgreSQL and MySQL/MariaDB (the Galera codes among them) through the runner's injection
seam (``inject_fault``): each conflict code named in store/errors.py is run again whole and
committed once; past ``retry_budget_ms`` the write fails with StorageUnavailable (ok 8),
never with the driver's error (ok 9); a duplicate key is run again a few times, then goes
up. Over HTTP: one request_id sent to two servers at once, each of whose writes fails its
first run with a conflict, still makes one write, and a write whose conflicts outlast the
budget answers ok 8 and is made once by its retry.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import MySQLdb
import psycopg
import pytest

from huihua.errors import StorageUnavailable
from huihua.store import Store
from huihua.store.runner import MAX_ATTEMPTS
from huihua.store.sql import Db
from tests.conftest import Api, Databases
from tests.test_runner import RETRYABLE, Fault, append, everything, opened, seed, with_fault

POOLED = ["postgresql", "mysql"]
BUDGET_MS = 150
IN_FLIGHT = 20

# The code each injected error carries, as the warning names it.
LOGGED = {
    "postgresql": ["sqlstate=40001", "sqlstate=40P01"],
    "mysql": ["errno=1213", "errno=1205", "errno=1047", "errno=1180"],
}
DUPLICATE: dict[str, Callable[[], Exception]] = {
    "postgresql": lambda: psycopg.errors.UniqueViolation("injected: a twin's key"),
    "mysql": lambda: MySQLdb.IntegrityError(1062, "injected: a twin's key"),
}


@pytest.mark.parametrize("kind", POOLED)
def test_each_conflict_past_the_budget_is_storage_unavailable_and_writes_nothing(
    databases: Databases, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = opened(databases, kind, retry_budget_ms=BUDGET_MS)
    try:
        user_id, session_id = seed(store)
        before = asyncio.run(store.read(everything(user_id, session_id)))
        caplog.set_level(logging.WARNING, logger="huihua.store")
        for make, code in zip(RETRYABLE[kind], LOGGED[kind], strict=True):
            caplog.clear()
            fault = Fault(make, times=10**6)
            started = time.monotonic()
            with pytest.raises(StorageUnavailable) as caught:
                with_fault(store, fault, append(user_id, session_id, "never stored"))
            took = time.monotonic() - started
            assert caught.value.ok == 8 and "retry is safe" in caught.value.failed
            assert fault.calls >= 2, code  # run again while the budget lasted
            assert took < BUDGET_MS / 1000 + 2, took  # then given up: no endless loop
            warned = [r.getMessage() for r in caplog.records if r.name == "huihua.store"]
            assert any(m.startswith("store busy: ") and code in m for m in warned), warned
        assert asyncio.run(store.read(everything(user_id, session_id))) == before
        assert asyncio.run(store.write(append(user_id, session_id, "after"))) == 2
    finally:
        store.close()


@pytest.mark.parametrize("kind", POOLED)
def test_a_budget_of_zero_runs_a_conflicting_write_once(databases: Databases, kind: str) -> None:
    store = opened(databases, kind, retry_budget_ms=0)
    try:
        user_id, session_id = seed(store)
        for make in RETRYABLE[kind]:
            fault = Fault(make, times=1)
            with pytest.raises(StorageUnavailable):
                with_fault(store, fault, append(user_id, session_id, "never stored"))
            assert fault.calls == 1
        assert asyncio.run(store.write(append(user_id, session_id, "after"))) == 2
    finally:
        store.close()


@pytest.mark.parametrize("kind", POOLED)
def test_every_conflict_code_in_turn_then_one_commit(databases: Databases, kind: str) -> None:
    store = opened(databases, kind)
    try:
        user_id, session_id = seed(store)
        codes = RETRYABLE[kind]
        calls = []

        def fault(db: Db) -> None:  # each code once, in turn, then the commit
            calls.append(1)
            if len(calls) <= len(codes):
                raise codes[len(calls) - 1]()

        assert with_fault(store, fault, append(user_id, session_id, "once")) == 2  # type: ignore[arg-type]
        assert len(calls) == len(codes) + 1
        _, _, stored = asyncio.run(store.read(everything(user_id, session_id)))
        assert stored == [(2, "once"), (1, "first")]
    finally:
        store.close()


@pytest.mark.parametrize("kind", POOLED)
def test_a_lasting_duplicate_key_is_run_again_a_few_times_then_goes_up(
    databases: Databases, kind: str
) -> None:
    store = opened(databases, kind)
    try:
        user_id, session_id = seed(store)
        fault = Fault(DUPLICATE[kind], times=10**6)
        with pytest.raises(type(DUPLICATE[kind]())):
            with_fault(store, fault, append(user_id, session_id, "never stored"))
        assert fault.calls == MAX_ATTEMPTS
        assert asyncio.run(store.read(everything(user_id, session_id)))[0] == 1
    finally:
        store.close()


# -- over HTTP: twins on two servers, and ok 8 -------------------------------------------


class FirstRunFails:
    """Fails the first run of every write with a conflict; its next run goes on.

    A write's runs follow one another on one worker thread, so "the previous call on this
    thread failed" tells a write's second run from the next write's first."""

    def __init__(self, make: Callable[[], Exception]) -> None:
        self.make = make
        self.local = threading.local()
        self.failed = 0
        self.lock = threading.Lock()

    def __call__(self, db: Db) -> None:
        if getattr(self.local, "failed_last", False):
            self.local.failed_last = False
            return
        self.local.failed_last = True
        with self.lock:
            self.failed += 1
        raise self.make()


def conflict_of(kind: str) -> Callable[[], Exception]:
    return RETRYABLE[kind][0]  # 40001, or 1213 (a Galera certification conflict)


def store_of(api: Api) -> Store:
    return api.app.state.store  # type: ignore[no-any-return]


async def _post_spread(apis: list[Api], bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    clients = [httpx.AsyncClient(base_url=a.base_url, timeout=60) for a in apis]
    try:
        return await asyncio.gather(
            *(clients[n % len(clients)].post("/add_chat", json=b) for n, b in enumerate(bodies))
        )
    finally:
        for client in clients:
            await client.aclose()


@pytest.mark.parametrize("kind", POOLED)
@pytest.mark.parametrize("new_session", [False, True], ids=["existing session", "new session"])
def test_one_request_id_sent_to_two_servers_whose_writes_conflict_makes_one_write(
    serve: Callable[..., Api], databases: Databases, kind: str, new_session: bool
) -> None:
    url = databases.create(kind)
    apis = [serve(kind, database_url=url) for _ in range(2)]
    user_id = apis[0].new_user()
    body: dict[str, Any] = {
        "request_id": f"r-{uuid.uuid4().hex}",
        "user_id": user_id,
        "role": "ai",
        "msg": "only once",
    }
    if not new_session:
        body["session_id"] = "s-shared"
        made = apis[0].call(
            "/add_chat", user_id=user_id, session_id="s-shared", role="user", msg="q"
        )
        assert made["ok"] == 0, made
    faults = [FirstRunFails(conflict_of(kind)) for _ in apis]
    for api, fault in zip(apis, faults, strict=True):
        store_of(api).runner.inject_fault(fault)
    try:
        replies = asyncio.run(_post_spread(apis, [body] * IN_FLIGHT))
    finally:
        for api in apis:
            store_of(api).runner.inject_fault(None)
    for reply in replies:
        assert reply.status_code == 200, reply.json()
    assert {r.content for r in replies} == {replies[0].content}
    assert sum(f.failed for f in faults) >= 2  # both servers' writes met the conflict
    first = replies[0].json()
    assert first["seq"] == (1 if new_session else 2)
    listed = apis[1].call("/query_session_names", user_id=user_id, limit=100)["sessions"]
    assert [s["session_id"] for s in listed] == [first["session_id"]]
    chats = apis[1].call("/query_session_info", user_id=user_id, session_id=first["session_id"])[
        "chats"
    ]
    assert [c["msg"] for c in chats].count("only once") == 1
    assert sorted(c["seq"] for c in chats) == list(range(1, len(chats) + 1))


@pytest.mark.parametrize("kind", POOLED)
def test_conflicts_past_the_budget_answer_ok_8_and_the_retry_writes_once(
    serve: Callable[..., Api], kind: str
) -> None:
    api = serve(kind, retry_budget_ms=BUDGET_MS)
    user_id = api.new_user()
    body = {
        "request_id": f"r-{uuid.uuid4().hex}",
        "user_id": user_id,
        "session_id": "s-busy",
        "role": "user",
        "msg": "kept trying",
    }
    fault = Fault(conflict_of(kind), times=10**6)
    store_of(api).runner.inject_fault(fault)
    try:
        busy = api.post("/add_chat", body)
    finally:
        store_of(api).runner.inject_fault(None)
    assert busy.status_code == 503, busy.text
    reply = busy.json()
    assert reply["ok"] == 8 and reply["request_id"] == body["request_id"]
    assert "busy" in reply["failed"] and "retry is safe" in reply["failed"]
    assert fault.calls >= 2
    again = api.post("/add_chat", body).json()
    assert again["ok"] == 0 and again["seq"] == 1, again
    assert api.post("/add_chat", body).content == api.post("/add_chat", body).content
    chats = api.call("/query_session_info", user_id=user_id, session_id="s-busy")["chats"]
    assert [c["msg"] for c in chats] == ["kept trying"]
