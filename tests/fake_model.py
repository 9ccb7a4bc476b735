"""A fake OpenAI-compatible chat completions API on loopback: a real HTTP server, scripted.

``POST /v1/chat/completions`` (and ``/chat/completions``) answers as OpenAI and DeepSeek do:
with ``stream: true``, ``text/event-stream`` of ``data: {chat.completion.chunk}`` events (a
role chunk, reasoning pieces, content pieces, a finish chunk, a ``choices: []`` chunk with
``usage`` when ``stream_options.include_usage`` asks for it) then ``data: [DONE]``; with
``stream: false``, one ``chat.completion``.

A test says what the next calls answer, one script item a call, then the default::

    fake.script(Fail(429, retry_after=0.2), Reply(content=["秋", "风"]))
    fake.default = Fail(503)          # every call once the queue is empty
    fake.requests[-1]["messages"]     # the bodies received, in order; fake.keys: the keys
    fake.release()                    # ends every request a Hang() holds

Script items (fake_script.py, with ``chinese_pieces`` and the waits ``wait_until`` and
``until``): ``Reply`` (pieces, reasoning first, a delay between chunks, usage or not, a
finish reason, a break after N chunks), ``Fail`` (an error status, with ``Retry-After``)
and ``Hang`` (headers then silence, or nothing at all, until released or the client leaves).

From another process (bench/relay.py)::

    python -m tests.fake_model --port P --chunks N --delay-ms D

serves every call with N pieces of 1-3 Chinese characters, D ms apart, until killed; a
model named ``…pieces-M`` (``bench-pieces-250``) gets M pieces instead.

It writes no access line, and the connections it breaks on purpose log nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .fake_script import Fail, Hang, Reply, Script, chinese_pieces
from .helpers import start_in_thread

MODEL_ECHO = "fake-model"


@dataclass
class FakeModel:
    """The fake server, in a thread of this process; ``stop()`` ends it."""

    port: int
    default: Script = field(default_factory=Reply)
    requests: list[dict[str, Any]] = field(default_factory=list)  # bodies, in order
    keys: list[str | None] = field(default_factory=list)  # the bearer key of each
    paths: list[str] = field(default_factory=list)
    disconnects: int = 0  # streams the client left before their end
    hanging: int = 0  # requests a Hang holds now

    def __post_init__(self) -> None:
        self.base = f"http://127.0.0.1:{self.port}"
        self.base_url = self.base + "/v1"
        self._queue: deque[Script] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released: set[asyncio.Event] = set()
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/chat/completions", self._completions, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=_Quiet,
        )
        self.server, self.thread = start_in_thread(config, "fake model")

    @property
    def calls(self) -> int:
        """Return how many requests reached the server."""
        return len(self.requests)

    def script(self, *items: Script) -> None:
        """Queue what the next calls answer, one item a call (then ``default``)."""
        self._queue.extend(items)

    def reset(self) -> None:
        """Forget the queue, the records and the default; release any hang."""
        self.release()
        self._queue.clear()
        self.default = Reply()
        self.requests.clear()
        self.keys.clear()
        self.paths.clear()
        self.disconnects = 0

    def release(self) -> None:
        """End every request a ``Hang`` holds now."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._release_all)

    def stop(self) -> None:
        self.release()
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def _release_all(self) -> None:
        for event in self._released:
            event.set()

    async def _completions(self, request: Request) -> Response:
        self._loop = asyncio.get_running_loop()
        body: dict[str, Any] = msgspec.json.decode(await request.body())
        authorization = request.headers.get("authorization")
        self.requests.append(body)
        self.keys.append(authorization.removeprefix("Bearer ") if authorization else None)
        self.paths.append(request.url.path)
        item = self._queue.popleft() if self._queue else self.default
        if isinstance(item, Fail):
            headers = {} if item.retry_after is None else {"retry-after": f"{item.retry_after:g}"}
            error = {"message": item.message, "type": "fake_error", "param": None, "code": None}
            return JSONResponse({"error": error}, item.status, headers=headers)
        if isinstance(item, Hang):
            return _Hung(self, item)
        model = str(body.get("model", MODEL_ECHO))
        pieces = model.rpartition("pieces-")[2]
        if item is self.default and isinstance(item, Reply) and pieces.isdigit():
            item = dataclasses.replace(item, content=chinese_pieces(int(pieces)))
        if not body.get("stream"):
            return JSONResponse(_completion(item, model))
        options = body.get("stream_options") or {}
        return _Stream(self, item, model, bool(options.get("include_usage")))


class _Stream(Response):
    """An ASGI answer that streams a ``Reply`` chunk by chunk, as its script says."""

    def __init__(self, fake: FakeModel, reply: Reply, model: str, include_usage: bool) -> None:
        self.fake = fake
        self.reply = reply
        self.model = model
        self.include_usage = include_usage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.ensure_future(self._stream(send))
        watching = asyncio.ensure_future(_left(receive))
        await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
        if streaming.done():
            watching.cancel()
            streaming.result()
            return
        self.fake.disconnects += 1
        streaming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await streaming

    async def _stream(self, send: Send) -> None:
        reply = self.reply
        await send(_START)
        # Every chunk but the usage chunk carries "usage": null when usage is asked for.
        head = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
        }
        head["model"] = self.model
        head["system_fingerprint"] = "fp_fake"
        if self.include_usage:
            head["usage"] = None

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**head, "choices": [choice]}

        await _event(send, chunk({"role": "assistant", "content": ""}))
        deltas = [{"content": None, reply.reasoning_field: piece} for piece in reply.reasoning]
        deltas += [{"content": piece} for piece in reply.content]
        for sent, delta in enumerate(deltas):
            if reply.break_after is not None and sent == reply.break_after:
                return  # uvicorn closes the connection: the chunked body never ends
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            await _event(send, chunk(delta))
        if reply.break_after is not None:
            return
        await _event(send, chunk({}, reply.finish_reason))
        if self.include_usage and reply.send_usage:
            await _event(send, {**head, "choices": [], "usage": _usage(reply)})
        if reply.done:
            await send(
                {"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": True}
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Hung(Response):
    """An ASGI answer that holds the request until released or the client leaves."""

    def __init__(self, fake: FakeModel, hang: Hang) -> None:
        self.fake = fake
        self.hang = hang

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hang.headers:
            await send(_START)
        released = asyncio.Event()
        self.fake._released.add(released)
        self.fake.hanging += 1
        waiting = asyncio.ensure_future(released.wait())
        watching = asyncio.ensure_future(_left(receive))
        try:
            await asyncio.wait({waiting, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            watching.cancel()
            self.fake.hanging -= 1
            self.fake._released.discard(released)
        if not self.hang.headers and not watching.done():
            await JSONResponse({"error": {"message": "released"}}, 503)(scope, receive, send)


async def _left(receive: Receive) -> None:
    """Return once the client has gone (or the answer is complete)."""
    while (await receive())["type"] != "http.disconnect":
        pass


_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
    ],
}


async def _event(send: Send, chunk: dict[str, Any]) -> None:
    body = b"data: " + msgspec.json.encode(chunk) + b"\n\n"
    await send({"type": "http.response.body", "body": body, "more_body": True})


def _usage(reply: Reply) -> dict[str, Any]:
    completion = reply.completion_tokens
    if completion is None:
        completion = len(reply.content) + len(reply.reasoning)
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": reply.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": len(reply.reasoning)},
    }


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.content)}
    if reply.reasoning:
        message[reply.reasoning_field] = "".join(reply.reasoning)
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": reply.finish_reason,
    }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": _usage(reply),
    }


class _Dropped(logging.Filter):
    """Drops uvicorn's complaint about the streams this fake breaks on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


_LOGGER = logging.getLogger("tests.fake_model")
_LOGGER.addFilter(_Dropped())


class _Quiet(H11Protocol):
    """uvicorn's h11 protocol with no access line (see fake_wechat._NoAccessLine) and a
    logger that says nothing of the connections closed on purpose."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False
        self.logger = _LOGGER


def main(argv: Sequence[str] | None = None) -> None:
    """Serve every call with N pieces D ms apart until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_model", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=100, help="content pieces a reply")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="between two chunks")
    parser.add_argument("--reasoning-chunks", type=int, default=0, help="sent before content")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    default = Reply(
        content=chinese_pieces(args.chunks),
        reasoning=chinese_pieces(args.reasoning_chunks),
        delay_s=args.delay_ms / 1000,
    )
    fake = FakeModel(args.port, default=default)
    print(f"fake model listening on {fake.base_url}", flush=True)
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
