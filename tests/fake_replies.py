"""A fake of huihua's /ask_ai, /follow_reply and /stop_reply on loopback (API.md §8): a real
HTTP server (uvicorn in a thread) whose streams misbehave exactly as a test asks, for the
Python client's tests (test_client_replies.py).

It answers every ask with the same reply (ids 1-6: start, a reasoning delta, three text
deltas, done) and misbehaves as the question's words say (:class:`Plan`): the first stream
of an ask cut after N events (ended, or the connection broken), broken before start,
stalled, an error envelope, follows that no longer have the events (a ``replace`` delta) or
that send an event again, pings between the events. A retried ask (same request_id) gets
the same reply; a follow names it by session and seq.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

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
