"""The seams the next features build on: observers on every path, streamed replies, the
idempotency piece, and the one-statement append's reply.

Each is driven as a client would (HTTP against the real app) where it can be.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import msgspec
import pytest
from sqlalchemy import create_engine, insert

import huihua.service
from huihua.http.endpoint import Streamed
from huihua.http.endpoints import ENDPOINTS, Context, Endpoint
from huihua.service.idempotency import Idempotency, State, WriteCall
from huihua.store import queries as q
from huihua.store.tables import chat_messages, chat_sessions
from huihua.wire.replies import (
    AddChatReply,
    AddChatsReply,
    Envelope,
    add_chat_reply_around_seq,
    add_chats_reply_around_seqs,
)
from huihua.wire.requests import QuerySessionInfoRequest

from .conftest import Api

WAIT_S = 20.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- observe: every path ends in one call -------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None, int, float, str | None]] = []

    def __call__(self, route, ok, status, seconds, request_id=None, who="-") -> None:
        self.calls.append((route, ok, status, seconds, request_id))

    def wait_for(self, route: str, status: int) -> tuple[Any, ...]:
        wait_until(lambda: any(c[0] == route and c[2] == status for c in self.calls), route)
        return next(c for c in self.calls if c[0] == route and c[2] == status)


@pytest.fixture(scope="module")
def observed(serve: Callable[..., Api]) -> tuple[Api, Recorder]:
    recorder = Recorder()
    return serve("sqlite", app_options={"observers": [recorder]}), recorder


@pytest.mark.parametrize(
    ("method", "path", "body", "route", "ok", "status"),
    [
        ("POST", "/add_user", {"user_id": "obs-1"}, "/add_user", 0, 200),
        ("POST", "/query_user_info", {"user_id": "nobody"}, "/query_user_info", 2, 404),
        ("POST", "/add_chat", {"user_id": ""}, "/add_chat", 1, 400),
        ("GET", "/healthz", None, "/healthz", 0, 200),
        ("GET", "/openapi.json", None, "/openapi.json", 0, 200),
        ("POST", "/no/such/path", {}, "(unknown)", 2, 404),
        ("GET", "/add_chat", None, "/add_chat", 10, 405),
    ],
)
def test_every_path_is_observed_once(
    observed: tuple[Api, Recorder],
    method: str,
    path: str,
    body: Any,
    route: str,
    ok: int,
    status: int,
) -> None:
    api, recorder = observed
    recorder.calls.clear()
    response = (
        api.http.request(method, path, json=body)
        if body is not None
        else (api.http.request(method, path))
    )
    assert response.status_code == status
    call = recorder.wait_for(route, status)
    assert call[1] == ok and call[3] >= 0
    # A second call, if any, would come before the next request's own.
    api.http.get("/healthz", headers={"x-request-id": "sentinel"})
    wait_until(lambda: any(c[4] == "sentinel" for c in recorder.calls), "the sentinel")
    same = [c for c in recorder.calls if c[0] == route and c[4] != "sentinel"]
    assert len(same) == 1, recorder.calls


def test_an_unexpected_error_is_observed_as_ok_9(
    observed: tuple[Api, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, recorder = observed

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(huihua.service, "query_user_info", boom)
    reply = api.post("/query_user_info", {"user_id": "obs-1", "request_id": "r-boom"})
    assert reply.json()["ok"] == 9
    call = recorder.wait_for("/query_user_info", 500)
    assert call[1] == 9 and call[4] == "r-boom"


# -- a streamed reply: 100,000 messages, sent while they are read -------------------------

MESSAGES = 100_000
PAGE = 1_000


def _bulk_session(url: str, user_id: str, session_id: str, count: int) -> None:
    # Bulk, past the API: 100,000 appends over HTTP would take the suite's time.
    engine = create_engine(url)
    now = int(time.time() * 1000)
    with engine.begin() as conn:
        conn.execute(
            insert(chat_sessions).values(
                user_id=user_id,
                session_id=session_id,
                chat_count=count,
                created_at=now,
                updated_at=now,
            )
        )
        rows = [
            {
                "user_id": user_id,
                "session_id": session_id,
                "seq": seq,
                "role": "user",
                "msg": f"message {seq}",
                "created_at": now,
            }
            for seq in range(1, count + 1)
        ]
        conn.execute(insert(chat_messages), rows)
    engine.dispose()


def _export_endpoint(first_chunk_seen: threading.Event) -> Endpoint:
    async def export(ctx: Context, parsed: Any, who: Any) -> Streamed:
        req = parsed.fields()

        async def chunks() -> AsyncGenerator[bytes, None]:
            head = msgspec.json.encode(Envelope(request_id=parsed.request_id))
            yield head[:-1] + b',"seqs":['
            # Nothing more is made until the client has the first bytes: a reply held
            # whole before sending would never get here.
            deadline = time.monotonic() + WAIT_S
            while not first_chunk_seen.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError("the first chunk never reached the client")
                await asyncio.sleep(0.01)
            before = None
            sep = b""
            while True:

                def page(db: Any, before: int | None = before) -> Any:
                    return q.session_messages(db, req.user_id, req.session_id, PAGE, before)

                _, rows = await ctx.store.read(page, long=True)
                if not rows:
                    break
                yield sep + b",".join(str(row[2]).encode() for row in rows)
                sep = b","
                before = rows[-1][2]
            yield b"]}"

        return Streamed(chunks())

    return Endpoint(
        "/test_export",
        "A test's export: every seq of a session, newest first, streamed.",
        QuerySessionInfoRequest,
        Envelope,
        export,
        {"user_id": "u1", "session_id": "s1"},
    )


def test_a_streamed_reply_is_sent_while_it_is_made(
    serve: Callable[..., Api], databases: Any
) -> None:
    first_chunk_seen = threading.Event()
    url = databases.create("sqlite")
    api = serve(
        "sqlite",
        database_url=url,
        app_options={"endpoints": (*ENDPOINTS, _export_endpoint(first_chunk_seen))},
    )
    user_id, session_id = api.new_user(), "big"
    _bulk_session(url, user_id, session_id, MESSAGES)
    received = []
    body = {"user_id": user_id, "session_id": session_id, "request_id": "r-export"}
    with api.http.stream("POST", "/test_export", json=body) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        for chunk in response.iter_raw():
            received.append(chunk)
            first_chunk_seen.set()
    reply = json.loads(b"".join(received))
    assert reply["ok"] == 0 and reply["request_id"] == "r-export"
    assert reply["seqs"] == list(range(MESSAGES, 0, -1))
    assert len(received) > 1


# -- idempotency, and the reply of the one-statement append -------------------------------


def test_idempotency_starts_writing_first_and_delete_user_looks_up_first() -> None:
    call = WriteCall(path="/add_chat", request_id="r", client_request_id="r", request={})
    assert Idempotency(call, "u", lambda db, now: Envelope("r")).state is State.WRITE_FIRST
    kept_nothing = Idempotency(call, "u", lambda db, now: Envelope("r"), keep=False)
    assert kept_nothing.state is State.LOOK_UP_FIRST


@pytest.mark.parametrize(
    ("request_id", "session_id"),
    [("r1", "s1"), ('q"uote\\back', "s-_9"), ("日本語\u2028", "x" * 64), ("", "")],
)
def test_the_reply_around_seq_is_the_reply_msgspec_encodes(request_id: str, session_id: str):
    created_at = "2026-11-29T20:00:00.123Z"
    head, tail = add_chat_reply_around_seq(request_id, session_id, created_at)
    for seq in (1, 42, 2**31 - 1):
        reply = AddChatReply(
            request_id=request_id, session_id=session_id, seq=seq, created_at=created_at
        )
        assert head + str(seq).encode() + tail == msgspec.json.encode(reply)


@pytest.mark.parametrize(
    ("request_id", "session_id"),
    [("r1", "s1"), ('q"uote\\back', "user:1.x"), ("日本語\u2028", "x" * 64), ("", "")],
)
def test_the_reply_around_seqs_is_the_reply_msgspec_encodes(request_id: str, session_id: str):
    created_at = "2026-11-29T20:00:00.123Z"
    head, tail = add_chats_reply_around_seqs(request_id, session_id, created_at)
    for seqs in ([1], [41, 42], list(range(2**31 - 100, 2**31))):
        reply = AddChatsReply(
            request_id=request_id, session_id=session_id, seqs=seqs, created_at=created_at
        )
        numbers = ",".join(map(str, seqs)).encode()
        assert head + numbers + tail == msgspec.json.encode(reply)


def test_a_field_added_to_the_reply_is_in_the_bytes_around_its_seq(monkeypatch: Any) -> None:
    # The bytes around the seq are the struct's own encoding: a new field needs no edit there.
    from huihua.wire import replies

    class Wider(AddChatReply):
        model: str = "m1"

    class WiderTurn(AddChatsReply):
        model: str = "m1"

    monkeypatch.setattr(replies, "AddChatReply", Wider)
    monkeypatch.setattr(replies, "AddChatsReply", WiderTurn)
    head, tail = replies.add_chat_reply_around_seq("r", "s", "t")
    assert head + b"7" + tail == msgspec.json.encode(
        Wider("r", session_id="s", seq=7, created_at="t")
    )
    head, tail = replies.add_chats_reply_around_seqs("r", "s", "t")
    wide = WiderTurn("r", session_id="s", seqs=[7, 8], created_at="t")
    assert head + b"7,8" + tail == msgspec.json.encode(wide)
    assert b'"model":"m1"' in tail


@pytest.mark.postgresql
def test_a_turn_through_the_one_statement_is_stored_as_the_general_way_stores_it(
    serve: Any,
) -> None:
    """PostgreSQL appends a turn into an existing session in one statement: what is stored
    and read back is what the general way (a new session) stores."""
    api = serve("postgresql")
    user = api.new_user()
    turn = [
        {"role": "user", "msg": "q", "parts": [{"type": "image", "url": "https://a.example/i"}]},
        {"role": "ai", "msg": "", "status": "streaming", "meta": {"m": 1}, "reasoning": "r"},
        {"role": "tool", "msg": "t", "tool_call_id": "c", "name": "n"},
    ]
    made = api.call("/add_chats", user_id=user, session_id="s", chats=turn, request_id="t-1")
    again = api.call("/add_chats", user_id=user, session_id="s", chats=turn, request_id="t-2")
    retried = api.post(
        "/add_chats", {"user_id": user, "session_id": "s", "chats": turn, "request_id": "t-2"}
    )
    assert made["seqs"] == [1, 2, 3] and again["seqs"] == [4, 5, 6], (made, again)
    assert retried.json() == again
    chats = api.call("/query_session_info", user_id=user, session_id="s")["chats"]
    strip = [{k: v for k, v in c.items() if k not in ("seq", "created_at")} for c in chats]
    assert strip[:3] == strip[3:]


def test_the_fields_update_chat_takes_are_the_ones_the_store_changes() -> None:
    # The request's fields after the key (wire), and the columns an update may set (store).
    from huihua.store import queries as q
    from huihua.wire.checks import UPDATABLE

    assert set(UPDATABLE) == set(q.CHANGEABLE)
