"""The POST pipeline: body → parse → admit → handler → envelope, as a bare ASGI app.

The POST endpoints are the hot path, so they skip Starlette's request, response, routing
and middleware objects (about an eighth of a request's time here); everything else (GET
routes, unknown paths, wrong methods, lifespan) goes through Starlette (app.py).

A handler returns the reply as a struct, as encoded JSON, or as a :class:`Streamed` body
(an export: chunks sent as they are made, never held whole in memory). Any
:class:`~huihua.errors.HuihuaError` becomes the envelope with its status; anything else is
ok 9 (observe.unexpected), never a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from starlette.types import Receive, Scope, Send

from huihua.errors import HuihuaError, TooLarge
from huihua.http.endpoint import Endpoint, EventStream, Streamed
from huihua.http.observe import CLIENT_GONE, Observer, unexpected
from huihua.ids import new_id
from huihua.wire.parse import parse_body
from huihua.wire.replies import error_body

if TYPE_CHECKING:
    from huihua.http.context import Context

HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
# The same headers as raw ASGI pairs, for the POST endpoints that skip Starlette.
_JSON_HEADERS = [
    (b"content-type", b"application/json"),
    *((name.encode(), value.encode()) for name, value in HEADERS.items()),
]
_encode = msgspec.json.Encoder().encode


_EVENT_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
    *((name.encode(), value.encode()) for name, value in HEADERS.items()),
]


class Started(Protocol):
    """What a POST endpoint reads its use cases' context from: set at start-up, None
    before it and after shutdown (routes.Served)."""

    ctx: Context | None


class ClientGone(Exception):
    """The client closed the connection before its request body was complete."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """Return the request body; TooLarge past ``limit`` bytes, ClientGone if it left."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise _too_large(limit)
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the whole body in one message: the usual case
        if len(body) > limit:
            raise _too_large(limit)
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"body: must be at most {limit} bytes")


class PostEndpoint:
    """One POST endpoint as a bare ASGI app (see the module docstring)."""

    def __init__(self, spec: Endpoint, served: Started, observe: Observer) -> None:
        self.spec = spec
        self.path = spec.path
        self.request_type = spec.request if spec.strict else None
        self.handler = spec.handler
        self.served = served
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        ctx = self.served.ctx
        if ctx is None:
            raise RuntimeError("the app is not started")
        request_id = None
        status = 200
        extra: dict[str, str] | None = None
        who = "-"
        reply: Any
        try:
            body = await read_body(scope, receive, ctx.settings.max_body_bytes)
            parsed = parse_body(body, self.request_type)
            request_id = parsed.request_id
            # credential (ok 3), then rate limits (ok 7): before any field error (docs/api.md §1)
            principal, parsed = await ctx.access.admit(scope, parsed, self.spec)
            who = principal.log_name
            reply = await self.handler(ctx, parsed, principal)
            if isinstance(reply, Streamed):
                await self._stream(send, reply, started, request_id, who)
                return
            if isinstance(reply, EventStream):
                await self._events(receive, send, reply, started, request_id, who, ctx)
                return
            if not isinstance(reply, bytes):
                reply = _encode(reply)
            ok = 0
        except HuihuaError as error:
            request_id = request_id or new_id()
            reply, ok, status = error_body(request_id, error), error.ok, error.status
            extra = error.headers
        except ClientGone:  # nothing to answer
            seconds = time.perf_counter() - started
            self.observe(self.path, None, CLIENT_GONE, seconds, None, who)
            return
        except Exception as error:
            request_id = request_id or new_id()
            failure = unexpected(error, request_id, self.path)
            reply, ok, status = error_body(request_id, failure), failure.ok, failure.status
        headers = [*_JSON_HEADERS, (b"content-length", str(len(reply)).encode())]
        if extra:
            headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": reply})
        seconds = time.perf_counter() - started
        self.observe(self.path, ok, status, seconds, request_id, who)

    async def _stream(
        self, send: Send, reply: Streamed, started: float, request_id: str, who: str
    ) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _JSON_HEADERS})
        ok: int | None = 0
        try:
            async with contextlib.aclosing(reply.chunks) as chunks:
                async for chunk in chunks:
                    if chunk:
                        more = {"body": chunk, "more_body": True}
                        await send({"type": "http.response.body", **more})
        except Exception as error:
            unexpected(error, request_id, self.path)  # logged; the body ends short
            ok = None
        finally:
            await send({"type": "http.response.body", "body": b""})
        seconds = time.perf_counter() - started
        self.observe(self.path, ok, 200, seconds, request_id, who)

    async def _events(
        self,
        receive: Receive,
        send: Send,
        reply: EventStream,
        started: float,
        request_id: str,
        who: str,
        ctx: Context,
    ) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _EVENT_HEADERS})
        ok: int | None = 0
        pump = asyncio.ensure_future(_send_all(reply.frames, send))
        left = asyncio.ensure_future(_client_left(receive))
        stopping = asyncio.ensure_future(ctx.stopping.wait())
        try:
            await asyncio.wait({pump, left, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not pump.done():
                ok = None  # the client left, or the server stops: it follows again later
            elif (error := pump.exception()) is not None:
                unexpected(error, request_id, self.path)  # logged; the stream ends
                ok = None
        finally:
            for waiting in (pump, left, stopping):
                waiting.cancel()
            await asyncio.gather(pump, left, stopping, return_exceptions=True)
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b""})
        seconds = time.perf_counter() - started
        self.observe(self.path, ok, 200, seconds, request_id, who)


async def _send_all(frames: AsyncIterator[bytes], send: Send) -> None:
    try:
        async for data in frames:
            await send({"type": "http.response.body", "body": data, "more_body": True})
    finally:
        closing = getattr(frames, "aclose", None)
        if closing is not None:
            await closing()


async def _client_left(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
