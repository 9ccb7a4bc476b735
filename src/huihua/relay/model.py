"""The model client: a streamed chat completion of an OpenAI-compatible API (docs/api.md §8.1).

huihua relays thousands of replies at once, and each of their chunks must cost a few µs of
its CPU, so this is httpx and a small Server-Sent Events reader of its own, not the
``openai`` package nor httpx-sse: bench/chunk_parse.py measures the three (its figures are
in bench/README.md). A ``data:`` payload is decoded by msgspec into structs holding only the
fields huihua keeps; the chunks that arrive in one read of the socket are merged into one
``Chunk``.

Errors (``str(error)`` is the short reason kept in ``meta.error``; it never holds the key)::

    ModelError        the model failed: unreachable, refused, or silent past a timeout
    └── ModelBroken   the stream broke, or went silent, after its first text: never retried
                      (the user would read two answers spliced)

Before the first text a call is retried, within ``retry_budget_s``, on what may pass: no
connection, a timeout, 429 (its ``Retry-After`` obeyed), 500, 502, 503, 504, a stream that
ended before its first text. Any other refusal (400, 401, 404…) is a ``ModelError`` at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from .think import ThinkSplitter

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
REASON_CHARS = 200  # the most of a model's own error message a reason quotes
ERROR_BODY_BYTES = 65536  # the most of an error answer read
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 4.0
DRAIN_S = 1.0  # after [DONE], how long the end of the body may take (to reuse the connection)


class ModelError(Exception):
    """The model failed; ``str(error)`` is a short reason, ``status`` its HTTP status if any."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


class ModelBroken(ModelError):
    """The stream broke, or went silent, after its first text (it is not retried)."""


@dataclass(frozen=True)
class ModelSettings:
    """Where the model is and how long huihua waits for it."""

    base_url: str  # e.g. "https://api.deepseek.com/v1"; huihua POSTs {base_url}/chat/completions
    api_key: str  # "" sends no Authorization header
    connect_timeout_s: float = 10.0
    first_token_timeout_s: float = 60.0  # from the request to the first text
    idle_timeout_s: float = 60.0  # the longest silence between two reads after that
    retry_budget_s: float = 10.0  # retries before the first text end this long after the call
    think_tags: bool = False  # a leading <think>…</think> in content is reasoning


class Chunk(msgspec.Struct):
    """Text the model sent: to append to the reply's ``msg``, to its ``reasoning``, or both."""

    content: str = ""
    reasoning: str = ""


class Usage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int


class Ended(msgspec.Struct):
    """The stream's end: its finish reason, and its usage (None when it sent none)."""

    finish_reason: str | None
    usage: Usage | None


# What huihua reads of a chat.completion.chunk; msgspec skips every other field.
class _Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None  # DeepSeek, Qwen, Moonshot
    reasoning: str | None = None  # OpenRouter, vLLM


class _WireUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: str | None = None
    usage: _WireUsage | None = None  # Moonshot sends it in the last choice


class _ErrorDetail(msgspec.Struct):
    message: str | None = None


class _Event(msgspec.Struct):
    choices: list[_Choice] | None = None
    usage: _WireUsage | None = None
    error: _ErrorDetail | str | None = None  # a gateway's error, mid-stream


class _ErrorBody(msgspec.Struct):
    error: _ErrorDetail | str | None = None
    message: str | None = None
    detail: str | None = None


_decode_event = msgspec.json.Decoder(_Event).decode
_decode_error = msgspec.json.Decoder(_ErrorBody).decode


class _Retry(Exception):
    """A failure before the first text that may pass: try again after ``delay_s`` (or later)."""

    def __init__(
        self, reason: str, *, status: int | None = None, delay_s: float | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.delay_s = delay_s


class ModelClient:
    """Streams chat completions from one model API; one connection pool for all of them."""

    def __init__(
        self, settings: ModelSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        headers = {"accept": "text/event-stream", "content-type": "application/json"}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        # httpx's read timeout is only a backstop: the first text and the idle silences are
        # timed by this module (the two limits differ, and httpx takes one per request).
        read_s = max(settings.first_token_timeout_s, settings.idle_timeout_s) + 5.0
        self._client = httpx.AsyncClient(
            headers=headers,
            transport=transport,
            limits=httpx.Limits(
                max_connections=4096, max_keepalive_connections=1024, keepalive_expiry=30.0
            ),
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=read_s,
                write=settings.connect_timeout_s,
                pool=None,  # bounded by the first text's timeout
            ),
            trust_env=False,  # no proxy or certificate from the environment: settings only
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def stream(
        self, model: str, messages: list[dict[str, Any]]
    ) -> AsyncGenerator[Chunk | Ended, None]:
        """Yield the reply's text as it comes, then one ``Ended``.

        Iterate it from one task, inside ``contextlib.aclosing`` so that leaving early closes
        the connection at once (the model stops, and stops billing); a cancelled task closes
        it too.
        """
        body = msgspec.json.encode(
            {
                "model": model,
                "messages": messages,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )
        response, chunks, parser, first = await self._open(body)
        try:
            if first is not None:
                yield first
            if not parser.done:
                # The rest, to the end of the stream or its [DONE], each read timed by the
                # watchdog (inline: a generator between would cost each chunk a hop).
                idle_s = self.settings.idle_timeout_s
                watchdog = _Watchdog(idle_s)
                clock = watchdog.clock
                try:
                    watchdog.since = clock()
                    watchdog.reading = True
                    async for data in chunks:
                        watchdog.reading = False
                        chunk = parser.feed(data)
                        if chunk is not None:
                            yield chunk
                        if parser.done:
                            break
                        watchdog.since = clock()
                        watchdog.reading = True
                except asyncio.CancelledError:
                    if watchdog.expired():
                        reason = f"the model went silent for {idle_s:g} s"
                        raise self._error(reason, broken=True) from None
                    raise
                except httpx.TransportError as exc:
                    reason = f"the model's stream broke ({_describe(exc)})"
                    raise self._error(reason, broken=True) from None
                except _BadChunk as exc:
                    raise self._error(str(exc), broken=True) from None
                finally:
                    watchdog.reading = False
                    watchdog.stop()
            if parser.done:
                await _drain(chunks)
            tail = parser.flush()
            if tail is not None:
                yield tail
            if not parser.done and parser.finish_reason is None:
                raise self._error("the model's stream ended before its end", broken=True)
            yield Ended(parser.finish_reason, parser.usage())
        finally:
            await response.aclose()

    async def _open(
        self, body: bytes
    ) -> tuple[httpx.Response, AsyncIterator[bytes], _Parser, Chunk | None]:
        """Return the answer, its body, its parser and its first text (None: it ended first).

        Retries what may pass until the budget is spent; raises ``ModelError`` then.
        """
        settings = self.settings
        budget_end = time.monotonic() + settings.retry_budget_s
        tries = 0
        while True:
            tries += 1
            response: httpx.Response | None = None
            try:
                async with asyncio.timeout(settings.first_token_timeout_s):
                    request = self._client.build_request("POST", self._url, content=body)
                    response = await self._client.send(request, stream=True)
                    await self._check(response)
                    chunks = response.aiter_bytes()
                    parser = _Parser(settings.think_tags)
                    first = await self._first(chunks, parser)
                return response, chunks, parser, first
            except _Retry as retry:
                failure = retry
            except TimeoutError:
                failure = _Retry(f"the model sent nothing in {settings.first_token_timeout_s:g} s")
            except httpx.TransportError as exc:
                failure = _Retry(f"the model could not be reached ({_describe(exc)})")
            except BaseException:
                if response is not None:
                    await response.aclose()
                raise
            if response is not None:
                await response.aclose()
            left = budget_end - time.monotonic()
            if failure.delay_s is not None:
                delay = failure.delay_s  # Retry-After: not sooner, so past the budget is no
            else:
                backoff = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (tries - 1))
                delay = min(left, backoff * random.uniform(0.5, 1.0))
            if left <= 0 or delay > left:
                wait = f", and asks to wait {delay:g} s" if failure.delay_s is not None else ""
                raise self._error(f"{failure} ({_tries(tries)}{wait})", failure.status)
            await asyncio.sleep(delay)

    async def _check(self, response: httpx.Response) -> None:
        """Return if the answer is a stream; raise ``_Retry`` or ``ModelError`` if not."""
        status = response.status_code
        if status == 200:
            media_type = response.headers.get("content-type", "").partition(";")[0].strip()
            if media_type == "text/event-stream":
                return
            reason = await _error_message(response)
            raise self._error(f"the model answered {media_type or 'no type'}, not a stream{reason}")
        reason = f"the model answered {status}{await _error_message(response)}"
        if status not in RETRIED_STATUSES:
            raise self._error(reason, status)
        raise _Retry(reason, status=status, delay_s=_retry_after(response.headers))

    async def _first(self, chunks: AsyncIterator[bytes], parser: _Parser) -> Chunk | None:
        """Return the first text; None if the stream ended without one."""
        try:
            async for data in chunks:
                chunk = parser.feed(data)
                if chunk is not None:
                    return chunk
                if parser.done:
                    return None
        except _BadChunk as exc:
            raise self._error(str(exc)) from None
        if parser.finish_reason is None:
            raise _Retry("the model's stream ended before its first text")
        return None

    def _error(self, reason: str, status: int | None = None, *, broken: bool = False) -> ModelError:
        """Return the error to raise, its reason cleared of the key."""
        if self.settings.api_key:
            reason = reason.replace(self.settings.api_key, "[key]")
        return (ModelBroken if broken else ModelError)(reason, status=status)


class _BadChunk(Exception):
    """The stream sent an event huihua cannot read, or an error event."""


class _Parser:
    """Reads ``data:`` events out of the body's bytes, keeping the end and the usage."""

    __slots__ = ("_cr", "_data", "_rest", "_think", "_usage", "done", "finish_reason")

    def __init__(self, think_tags: bool) -> None:
        self._rest = b""  # an unfinished line
        self._cr = False  # the last read ended with \r: a \n opening the next one is its pair
        self._data: bytes | None = None  # the data of the event being read
        self._think = ThinkSplitter() if think_tags else None
        self._usage: _WireUsage | None = None
        self.done = False  # [DONE] came
        self.finish_reason: str | None = None

    def feed(self, data: bytes) -> Chunk | None:
        """Return the text of the events this read completes (None: none had text)."""
        if b"\r" in data or self._cr:
            data = self._newlines(data)
        if self._rest:
            data = self._rest + data
            self._rest = b""
        # A model's chunk mostly comes alone in a read, whole: "data: {...}\n\n".
        if (
            self._data is None
            and data.startswith(b"data: ")
            and data.find(b"\n") == len(data) - 2
            and data.endswith(b"\n\n")
        ):
            payloads: list[bytes] = [data[6:-2]]
        else:
            payloads = self._payloads(data)
        content = reasoning = ""
        for payload in payloads:
            if payload == b"[DONE]":
                self.done = True
                break
            try:
                event = _decode_event(payload)
            except msgspec.MsgspecError as exc:
                raise _BadChunk(f"the model sent a chunk huihua cannot read ({exc})") from None
            if event.error is not None:
                raise _BadChunk(f"the model sent an error: {_clip(_detail(event.error))}")
            if event.choices:
                choice = event.choices[0]
                delta = choice.delta
                if delta is not None:
                    if delta.content:
                        content += delta.content
                    thought = delta.reasoning_content or delta.reasoning
                    if thought:
                        reasoning += thought
                if choice.finish_reason is not None:
                    self.finish_reason = choice.finish_reason
                if choice.usage is not None:
                    self._usage = choice.usage
            if event.usage is not None:
                self._usage = event.usage
        if content and self._think is not None:
            content, thought = self._think.feed(content)
            reasoning += thought
        if content or reasoning:
            return Chunk(content, reasoning)
        return None

    def _payloads(self, data: bytes) -> list[bytes]:
        """Return the data of the events ``data`` completes; keep what it leaves unfinished."""
        lines = data.split(b"\n")
        self._rest = lines.pop()
        payloads = []
        for line in lines:
            if line:
                if line.startswith(b"data:"):
                    value = line[6:] if line[5:6] == b" " else line[5:]
                    self._data = value if self._data is None else self._data + b"\n" + value
                # comments (": keep-alive"), event:, id:, retry: say nothing huihua uses
            elif self._data is not None:
                payloads.append(self._data)
                self._data = None
        return payloads

    def flush(self) -> Chunk | None:
        """Return the text the think splitter held back, at the end (None: nothing)."""
        if self._think is None:
            return None
        content, reasoning = self._think.flush()
        return Chunk(content, reasoning) if content or reasoning else None

    def usage(self) -> Usage | None:
        """Return the usage the stream reported, if it did."""
        usage = self._usage
        if usage is None or usage.prompt_tokens is None or usage.completion_tokens is None:
            return None
        return Usage(usage.prompt_tokens, usage.completion_tokens)

    def _newlines(self, data: bytes) -> bytes:
        """Return ``data`` with \r\n and \r as \n (SSE allows all three line ends)."""
        if self._cr and data.startswith(b"\n"):
            data = data[1:]
        self._cr = data.endswith(b"\r")
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


class _Watchdog:
    """Cancels the task when a read has waited ``limit_s``; costs a read one clock reading.

    Its timer is checked lazily (asyncio.timeout's enter and exit would cost ~5 µs a read):
    when it fires during a read that is not late yet, it is set again for that read's limit.
    """

    __slots__ = (
        "_cancelling",
        "_handle",
        "_limit",
        "_loop",
        "_task",
        "clock",
        "fired",
        "reading",
        "since",
    )

    def __init__(self, limit_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._limit = limit_s
        self.clock = self._loop.time
        self.reading = False
        self.since = 0.0
        self.fired = False
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(limit_s, self._check)

    def _check(self) -> None:
        now = self.clock()
        due = self.since + self._limit if self.reading else now + self._limit
        if due <= now:
            self.fired = True
            self._handle = None
            self._task.cancel()
            return
        self._handle = self._loop.call_at(due, self._check)

    def expired(self) -> bool:
        """Return whether the CancelledError being handled is this watchdog's alone."""
        return self.fired and self._task.uncancel() <= self._cancelling

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows [DONE] (the body's end), so the connection can be used again."""
    try:
        async with asyncio.timeout(DRAIN_S):
            async for _ in chunks:
                pass
    except (TimeoutError, httpx.TransportError):
        pass  # the connection is closed instead


async def _error_message(response: httpx.Response) -> str:
    """Return ": <the model's message>" from an error answer, or "" if it gave none."""
    body = b""
    try:
        async for data in response.aiter_bytes():
            body += data
            if len(body) >= ERROR_BODY_BYTES:
                break
    except httpx.TransportError:
        pass
    message = ""
    try:
        error = _decode_error(body)
        if error.error is not None:
            message = _detail(error.error)
        message = message or error.message or error.detail or ""
    except msgspec.MsgspecError:
        message = body[:REASON_CHARS].decode("utf-8", "replace")
    message = " ".join(message.split())
    return f": {_clip(message)}" if message else ""


def _detail(error: _ErrorDetail | str) -> str:
    return error if isinstance(error, str) else error.message or ""


def _clip(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def _retry_after(headers: httpx.Headers) -> float | None:
    """Return the seconds ``Retry-After`` (or ``retry-after-ms``) asks for, if any."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _describe(exc: httpx.HTTPError) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {_clip(text)}" if text else type(exc).__name__


def _tries(tries: int) -> str:
    return "1 try" if tries == 1 else f"{tries} tries"
