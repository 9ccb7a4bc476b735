"""huihua.client's replies (API.md §8): ask_ai and follow_reply as streams of typed events
that resume by themselves, stop_reply, and the errors of an ask, on both clients.

Until the server's routes exist, the streams come from a fake of /ask_ai, /follow_reply and
/stop_reply on loopback (a real HTTP server: uvicorn in a thread). It answers every ask with
the same reply (ids 1-6: start, a reasoning delta, three text deltas, done) and misbehaves
as the question's words say (:class:`Plan`): the first stream of an ask cut after N events
(ended, or the connection broken), broken before start, stalled, an error envelope, a follow
that no longer has the events (a ``replace`` delta), pings between the events.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from huihua import errors
from huihua.client import AsyncClient, Client, Delta, Done, NoReply, Reply, Start
from huihua.wire.replies import StopReplyReply

from .conftest import free_port
from .fake_wechat import _NoAccessLine
from .helpers import start_in_thread

REASONING = "想想"
WORDS = ("秋风", "起兮", "白云飞")
TEXT = "".join(WORDS)
NOTICE = "内容不可用"
CREATED_AT = "2026-12-07T07:00:00.000Z"


class _Cut(Exception):
    """Raised in a stream's body: uvicorn closes the connection mid-response."""


@dataclass
class Plan:
    """How the fake misbehaves for one ask, from the words of its ``msg``: ``cut=N`` (the
    ask's first stream ends after N events), ``break=N`` (its connection breaks after N;
    ``break=0``: before start), ``stall=N`` (it sends N events, then nothing),
    ``followcut=N`` (every follow ends after N events), ``overlap`` (follows send the
    event ``after`` again), ``evicted`` (follows send start, one ``replace`` delta and
    done), ``pings`` (comments, multi-line data and CRLF), ``slowpings`` (a second of pings
    after event 3), ``blocked``, ``fail=OK`` (every try answers that ok), ``failonce=OK``,
    ``retryafter=S``."""

    words: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, msg: str) -> Plan:
        words = {}
        for word in msg.split():
            name, _, value = word.partition("=")
            words[name] = int(value or 1)
        return cls(words)

    def get(self, name: str) -> int | None:
        return self.words.get(name)


@dataclass
class FakeReply:
    request_id: str
    session_id: str
    plan: Plan
    follows: int = 0

    def events(self) -> list[tuple[int, str, dict[str, Any]]]:
        """Return the reply's events: (id, name, data)."""
        done: dict[str, Any] = {"seq": 2, "status": "complete", "failed": "", "meta": {"n": 1}}
        if self.plan.get("blocked"):
            done.update(status="blocked", msg=NOTICE)
        return [
            (1, "start", self.start()),
            (2, "delta", {"reasoning": REASONING}),
            *((3 + i, "delta", {"msg": word}) for i, word in enumerate(WORDS)),
            (6, "done", done),
        ]

    def start(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "ok": 0,
            "failed": "",
            "session_id": self.session_id,
            "seqs": [1, 2],
            "created_at": CREATED_AT,
        }


def _frame(event_id: int, name: str, data: dict[str, Any], pings: bool) -> bytes:
    text = msgspec.json.encode(data).decode()
    if not pings:
        return f"id: {event_id}\nevent: {name}\ndata: {text}\n\n".encode()
    head, tail = text[:-1], text[-1]  # data over two lines, joined by "\n": still JSON
    lines = [": ping", "", ":", f"id:{event_id}", f"event: {name}", f"data: {head}", f"data:{tail}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class FakeReplies:
    """The fake server, in a thread; what it was sent, in ``asks``, ``follows`` (bodies with
    the time they came, as ``_at``) and ``stops``."""

    def __init__(self) -> None:
        self.base = f"http://127.0.0.1:{free_port()}"
        self.asks: list[dict[str, Any]] = []
        self.follows: list[dict[str, Any]] = []
        self.stops: list[dict[str, Any]] = []
        self._replies: dict[str, FakeReply] = {}  # by request_id
        self._by_seq: dict[tuple[str, int], FakeReply] = {}
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/ask_ai", self._ask, methods=["POST"]),
                Route("/follow_reply", self._follow, methods=["POST"]),
                Route("/stop_reply", self._stop, methods=["POST"]),
            ]
        )
        port = int(self.base.rsplit(":", 1)[1])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=_NoAccessLine,
            timeout_graceful_shutdown=1,
        )
        self.server, self.thread = start_in_thread(config, "fake replies")

    def asked(self, question: str) -> list[dict[str, Any]]:
        with self._lock:
            return [a for a in self.asks if a.get("msg") == question]

    def followed(self, session_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [f for f in self.follows if f["session_id"] == session_id]

    async def _ask(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            ask = {**body, "_at": time.monotonic()}
            self.asks.append(ask)
            rid = body["request_id"]
            tries = sum(1 for a in self.asks if a["request_id"] == rid)
            plan = Plan.of(body.get("msg", ""))
        fail = plan.get("fail") or (plan.get("failonce") if tries == 1 else None)
        if fail:
            headers = {}
            if plan.get("retryafter") is not None:
                headers["retry-after"] = str(plan.get("retryafter"))
            status = {7: 429, 8: 503, 11: 409}[fail]
            envelope = {"request_id": rid, "ok": fail, "failed": f"fake: ok {fail}"}
            return JSONResponse(envelope, status_code=status, headers=headers)
        with self._lock:
            reply = self._replies.get(rid)
            if reply is None:
                reply = FakeReply(rid, f"s{len(self._replies) + 1}", plan)
                self._replies[rid] = reply
                self._by_seq[(reply.session_id, 2)] = reply
            ask["_session_id"] = reply.session_id
        if body.get("stream") is False:
            return JSONResponse(reply.start())
        events = reply.events()
        if tries == 1 and plan.get("cut") is not None:
            return _stream(events[: plan.get("cut")], plan)
        if tries == 1 and plan.get("break") is not None:
            return _stream(events[: plan.get("break")], plan, then="break")
        if tries == 1 and plan.get("stall") is not None:
            return _stream(events[: plan.get("stall")], plan, then="stall")
        if tries == 1 and plan.get("slowpings"):
            return _stream(events, plan, then="slowpings")
        return _stream(events, plan)

    async def _follow(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.follows.append({**body, "_at": time.monotonic()})
            reply = self._by_seq.get((body["session_id"], body["seq"]))
            if reply is not None:
                reply.follows += 1
        if reply is None:
            envelope = {"request_id": body["request_id"], "ok": 2, "failed": "seq: no such reply"}
            return JSONResponse(envelope, status_code=404)
        after, plan, events = body.get("after", 0), reply.plan, reply.events()
        if plan.get("evicted"):
            replace = {"msg": TEXT, "reasoning": REASONING, "replace": True}
            return _stream([events[0], (5, "delta", replace), events[-1]], plan)
        first = after - 1 if plan.get("overlap") and after > 1 else after
        sent = [events[0], *(e for e in events if e[0] > first and e[0] != 1)]
        if plan.get("followcut") is not None:
            return _stream(sent[: plan.get("followcut")], plan)
        return _stream(sent, plan)

    async def _stop(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.stops.append(body)
        rid = body["request_id"]
        return JSONResponse(
            {"request_id": rid, "ok": 0, "failed": "", "seq": body["seq"], "status": "cancelled"}
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _stream(
    events: list[tuple[int, str, dict[str, Any]]], plan: Plan, then: str = "end"
) -> StreamingResponse:
    pings = bool(plan.get("pings"))

    async def body() -> AsyncIterator[bytes]:
        for event_id, name, data in events:
            yield _frame(event_id, name, data, pings)
            if then == "slowpings" and event_id == 3:
                deadline = time.monotonic() + 1.0  # twice the client's idle timeout
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    yield b": ping\n\n"
        if then == "break":
            raise _Cut("the fake breaks the connection")
        if then == "stall":
            await asyncio.sleep(3600)  # until the client gives up and disconnects

    return StreamingResponse(body(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeReplies]:
    server = FakeReplies()
    yield server
    server.stop()


def _read(fake: FakeReplies, kind: str, question: str, **options: Any) -> tuple[list[Any], Reply]:
    """Ask ``question`` with the sync or the async client; return the events and the Reply."""
    settings = {"backoff": 0.01, "retries": 3, "idle_timeout": 5.0, **options}
    if kind == "sync":
        with Client(fake.base, service_key="k", **settings) as client:
            stream = client.ask_ai(user_id="u1", msg=question)
            return list(stream), stream.reply

    async def main() -> tuple[list[Any], Reply]:
        async with AsyncClient(fake.base, service_key="k", **settings) as client:
            stream = client.ask_ai(user_id="u1", msg=question)
            return [event async for event in stream], stream.reply

    return asyncio.run(main())


def _check_whole(events: list[Any], reply: Reply) -> None:
    """The caller saw the reply's six events once each, in order, and the whole text."""
    assert [e.id for e in events] == [1, 2, 3, 4, 5, 6]
    assert [type(e) for e in events] == [Start, Delta, Delta, Delta, Delta, Done]
    assert (reply.msg, reply.reasoning, reply.status, reply.failed) == (
        TEXT,
        REASONING,
        "complete",
        "",
    )
    assert reply.start == events[0] and reply.done == events[-1] and reply.meta == {"n": 1}


def _sent(body: dict[str, Any]) -> set[str]:
    """Return the fields the client sent (the fake's notes begin with _)."""
    return {k for k in body if not k.startswith("_")}


KINDS = ["sync", "async"]


# -- one uninterrupted stream --------------------------------------------------------------
# Re-point at the real server and fake model once /ask_ai exists: the whole stream, pings.


@pytest.mark.parametrize("kind", KINDS)
def test_a_whole_stream_is_typed_events_and_the_reply(fake: FakeReplies, kind: str) -> None:
    question = f"whole-{kind}"
    events, reply = _read(fake, kind, question)
    _check_whole(events, reply)
    start = events[0]
    assert (start.session_id, start.seqs, start.seq, start.created_at) == (
        reply.start and reply.start.session_id,
        [1, 2],
        2,
        CREATED_AT,
    )
    (ask,) = fake.asked(question)
    assert start.request_id == ask["request_id"] and ask["request_id"].startswith("py-")
    assert _sent(ask) == {"user_id", "msg", "request_id"}
    assert fake.followed(start.session_id) == []


@pytest.mark.parametrize("kind", KINDS)
def test_pings_multi_line_data_and_crlf_are_read(fake: FakeReplies, kind: str) -> None:
    events, reply = _read(fake, kind, f"pings {kind}")
    _check_whole(events, reply)


def test_pings_keep_a_slow_stream_alive_past_the_idle_timeout(fake: FakeReplies) -> None:
    question = "slowpings"
    events, reply = _read(fake, "sync", question, idle_timeout=0.5)
    _check_whole(events, reply)
    assert fake.followed(events[0].session_id) == []
    assert len(fake.asked(question)) == 1


# -- resumed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["cut", "break"])
def test_a_stream_cut_after_3_events_is_followed_from_3(
    fake: FakeReplies, kind: str, how: str
) -> None:
    question = f"{how}=3 {kind}"
    events, reply = _read(fake, kind, question)
    _check_whole(events, reply)
    assert len(fake.asked(question)) == 1
    (follow,) = fake.followed(events[0].session_id)
    assert {k: follow[k] for k in ("user_id", "session_id", "seq", "after")} == {
        "user_id": "u1",
        "session_id": events[0].session_id,
        "seq": 2,
        "after": 3,
    }
    assert _sent(follow) == {"user_id", "session_id", "seq", "after", "request_id"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_follow_cut_again_is_followed_from_where_it_stopped(fake: FakeReplies, kind: str) -> None:
    events, reply = _read(fake, kind, f"cut=3 followcut=3 {kind}")  # start, 4, 5; then 6
    _check_whole(events, reply)
    assert [f["after"] for f in fake.followed(events[0].session_id)] == [3, 5]


def test_each_stream_that_brings_news_earns_fresh_tries(fake: FakeReplies) -> None:
    events, reply = _read(fake, "sync", "cut=2 followcut=2 fresh", retries=1)  # 1 new each
    _check_whole(events, reply)
    assert [f["after"] for f in fake.followed(events[0].session_id)] == [2, 3, 4, 5]


@pytest.mark.parametrize("kind", KINDS)
def test_streams_that_bring_nothing_new_end_in_no_reply(fake: FakeReplies, kind: str) -> None:
    question = f"cut=1 followcut=1 {kind}"  # start, then follows that send start alone
    with pytest.raises(NoReply) as raised:
        _read(fake, kind, question, retries=3)
    (ask,) = fake.asked(question)
    session_id = ask["_session_id"]
    assert [f["after"] for f in fake.followed(session_id)] == [1, 1, 1]
    assert "before done" in raised.value.failed


@pytest.mark.parametrize("kind", KINDS)
def test_events_sent_again_are_skipped(fake: FakeReplies, kind: str) -> None:
    events, reply = _read(fake, kind, f"cut=3 overlap {kind}")  # the follow resends 3
    _check_whole(events, reply)


@pytest.mark.parametrize("kind", KINDS)
def test_a_replace_delta_replaces_the_text(fake: FakeReplies, kind: str) -> None:
    events, reply = _read(fake, kind, f"cut=4 evicted {kind}")  # has 秋风, gets it all
    assert [e.id for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[4] == Delta(id=5, msg=TEXT, reasoning=REASONING, replace=True)
    assert (reply.msg, reply.reasoning, reply.status) == (TEXT, REASONING, "complete")


@pytest.mark.parametrize("kind", KINDS)
def test_a_silent_stream_is_taken_as_cut_after_the_idle_timeout(
    fake: FakeReplies, kind: str
) -> None:
    events, reply = _read(fake, kind, f"stall=3 {kind}", idle_timeout=0.5)
    _check_whole(events, reply)
    assert [f["after"] for f in fake.followed(events[0].session_id)] == [3]


@pytest.mark.parametrize("kind", KINDS)
def test_an_ask_broken_before_start_is_asked_again_with_its_request_id(
    fake: FakeReplies, kind: str
) -> None:
    question = f"break=0 {kind}"
    events, reply = _read(fake, kind, question)
    _check_whole(events, reply)
    first, again = fake.asked(question)
    assert first["request_id"] == again["request_id"] == events[0].request_id
    assert fake.followed(events[0].session_id) == []


def test_the_callers_request_id_is_sent_on_every_try(fake: FakeReplies) -> None:
    with Client(fake.base, backoff=0.01) as client:
        stream = client.ask_ai(user_id="u1", msg="break=0 mine", request_id="mine-1")
        assert stream.request_id == "mine-1"
        assert stream.collect().msg == TEXT
    assert [a["request_id"] for a in fake.asked("break=0 mine")] == ["mine-1", "mine-1"]


def test_a_blocked_reply_ends_with_its_notice(fake: FakeReplies) -> None:
    events, reply = _read(fake, "sync", "blocked")
    assert events[-1].status == "blocked" and events[-1].msg == NOTICE
    assert (reply.msg, reply.reasoning, reply.status) == (NOTICE, "", "blocked")


# -- errors before the stream --------------------------------------------------------------
# Re-point ok 11 (a reply already streaming in the session) at the real server.


@pytest.mark.parametrize("kind", KINDS)
def test_an_envelope_before_the_stream_raises_its_error(fake: FakeReplies, kind: str) -> None:
    question = f"fail=11 {kind}"
    with pytest.raises(errors.NotApplicable) as raised:
        _read(fake, kind, question)
    (ask,) = fake.asked(question)
    assert (raised.value.ok, raised.value.status, raised.value.request_id) == (
        11,
        409,
        ask["request_id"],
    )
    assert raised.value.failed == "fake: ok 11"


@pytest.mark.parametrize("kind", KINDS)
def test_ok_7_is_asked_again_after_retry_after_then_raised(fake: FakeReplies, kind: str) -> None:
    question = f"fail=7 retryafter=1 {kind}"
    with pytest.raises(errors.RateLimited) as raised:
        _read(fake, kind, question, retries=1)
    first, again = fake.asked(question)
    assert first["request_id"] == again["request_id"] == raised.value.request_id
    assert again["_at"] - first["_at"] >= 0.9  # Retry-After: 1
    assert (raised.value.ok, raised.value.status) == (7, 429)


@pytest.mark.parametrize("kind", KINDS)
def test_ok_8_is_asked_again_with_the_same_request_id(fake: FakeReplies, kind: str) -> None:
    question = f"failonce=8 {kind}"
    events, reply = _read(fake, kind, question)
    _check_whole(events, reply)
    first, again = fake.asked(question)
    assert first["request_id"] == again["request_id"] == events[0].request_id


def test_following_an_unknown_reply_raises_not_found(fake: FakeReplies) -> None:
    with Client(fake.base, backoff=0.01) as client, pytest.raises(errors.NotFound):
        list(client.follow_reply(user_id="u1", session_id="nowhere", seq=2))


def test_no_server_is_no_reply_once_the_tries_are_spent() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", backoff=0.01, retries=2) as client:
        stream = client.ask_ai(user_id="u1", msg="hello")
        with pytest.raises(NoReply) as raised:
            next(stream)
    assert raised.value.request_id == stream.request_id


# -- follow, stop, stream=False ------------------------------------------------------------
# Re-point at the real server: follow from 0 and from an id, stop, stream=False.


@pytest.mark.parametrize("kind", KINDS)
def test_follow_reply_from_0_and_from_an_id(fake: FakeReplies, kind: str) -> None:
    events, _ = _read(fake, kind, f"followed {kind}")
    session_id = events[0].session_id

    def follow(after: int) -> list[Any]:
        if kind == "sync":
            with Client(fake.base, backoff=0.01) as client:
                fields = {"user_id": "u1", "session_id": session_id, "seq": 2, "after": after}
                return list(client.follow_reply(**fields))

        async def main() -> list[Any]:
            async with AsyncClient(fake.base, backoff=0.01) as client:
                stream = client.follow_reply(
                    user_id="u1", session_id=session_id, seq=2, after=after
                )
                return [event async for event in stream]

        return asyncio.run(main())

    assert follow(0) == events
    assert follow(4) == events[4:]


def test_collect_after_some_events_and_close_early(fake: FakeReplies) -> None:
    with Client(fake.base, backoff=0.01) as client:
        stream = client.ask_ai(user_id="u1", msg="collect")
        assert isinstance(next(stream), Start) and stream.reply.status == "streaming"
        assert stream.collect() is stream.reply and stream.reply.msg == TEXT
        with client.ask_ai(user_id="u1", msg="closed") as early:
            next(early)
            next(early)
        assert early.reply.msg == "" and early.reply.reasoning == REASONING
        with pytest.raises(StopIteration):
            next(early)


@pytest.mark.parametrize("kind", KINDS)
def test_stream_false_returns_the_start(fake: FakeReplies, kind: str) -> None:
    question = f"stored {kind}"
    if kind == "sync":
        with Client(fake.base, backoff=0.01) as client:
            start = client.ask_ai(user_id="u1", msg=question, stream=False)
    else:

        async def main() -> Start:
            async with AsyncClient(fake.base, backoff=0.01) as client:
                return await client.ask_ai(user_id="u1", msg=question, stream=False)

        start = asyncio.run(main())
    (ask,) = fake.asked(question)
    assert ask["stream"] is False
    assert start == Start(
        id=1,
        request_id=ask["request_id"],
        session_id=start.session_id,
        seqs=[1, 2],
        created_at=CREATED_AT,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_stop_reply_is_a_plain_call(fake: FakeReplies, kind: str) -> None:
    if kind == "sync":
        with Client(fake.base, backoff=0.01) as client:
            reply = client.stop_reply(user_id="u1", session_id=f"stop-{kind}", seq=2)
    else:

        async def main() -> StopReplyReply:
            async with AsyncClient(fake.base, backoff=0.01) as client:
                return await client.stop_reply(user_id="u1", session_id=f"stop-{kind}", seq=2)

        reply = asyncio.run(main())
    assert isinstance(reply, StopReplyReply)
    assert (reply.seq, reply.status) == (2, "cancelled")
    (sent,) = [s for s in fake.stops if s["session_id"] == f"stop-{kind}"]
    assert {k: sent[k] for k in ("user_id", "seq")} == {"user_id": "u1", "seq": 2}


def test_ask_ai_sends_the_fields_it_is_given_and_no_others(fake: FakeReplies) -> None:
    with Client(fake.base, backoff=0.01) as client:
        client.ask_ai(
            user_id="u1",
            session_id="given",
            session_title="秋",
            msg="fields",
            parts=[{"type": "image", "url": "https://x/a.png"}],
            meta={"client": 1},
            model="m2",
            notify=True,
        ).collect()
        client.ask_ai(user_id="u1", session_id="given", regenerate=True).collect()
    asked = [a for a in fake.asks if a.get("session_id") == "given"]
    assert [sorted(_sent(a) - {"request_id"}) for a in asked] == [
        sorted(
            ["user_id", "session_id", "session_title", "msg", "parts", "meta", "model", "notify"]
        ),
        ["regenerate", "session_id", "user_id"],
    ]
    assert asked[0]["notify"] is True and asked[1]["regenerate"] is True
