"""The model client: a streamed chat completion of an OpenAI-compatible API (docs/api.md §8.1).

huihua relays thousands of replies at once, and each of their chunks must cost a few µs of
its CPU, so this is aiohttp's client (its HTTP parser is C) and a small Server-Sent Events
reader of its own (chunks.py), not the ``openai`` package, nor httpx with or without
httpx-sse: bench/chunk_parse.py measures them, and with a model's pace (one chunk a read,
100 streams) httpx alone costs a chunk about 60 µs of CPU where aiohttp costs 18 and the
whole of huihua's reading about 19 (bench/README.md, docs/design.md).

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
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from .chunks import (
    REASON_CHARS,
    BadChunk,
    Chunk,
    Ended,
    Parser,
    clip,
    decode_error,
    detail,
)
from .watchdog import Watchdog

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
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

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        headers = {"accept": "text/event-stream", "content-type": "application/json"}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        self._headers = headers
        # No read timeout of aiohttp's (it would set a timer again at every read): the first
        # text and the idle silences are timed by this module (asyncio.timeout, Watchdog).
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout_s, sock_read=None
        )
        self._session: aiohttp.ClientSession | None = None  # made in the event loop, at first use

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=4096, keepalive_timeout=30.0)
            # trust_env False: no proxy or certificate from the environment, settings only
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, trust_env=False
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
                watchdog = Watchdog(idle_s)
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
                except (aiohttp.ClientError, TimeoutError) as exc:
                    reason = f"the model's stream broke ({_describe(exc)})"
                    raise self._error(reason, broken=True) from None
                except BadChunk as exc:
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
            # Read to its end, the connection goes back to the pool; else it is closed (a
            # stream left early: the model stops generating, and billing).
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    async def _open(
        self, body: bytes
    ) -> tuple[aiohttp.ClientResponse, AsyncIterator[bytes], Parser, Chunk | None]:
        """Return the answer, its body, its parser and its first text (None: it ended first).

        Retries what may pass until the budget is spent; raises ``ModelError`` then.
        """
        settings = self.settings
        budget_end = time.monotonic() + settings.retry_budget_s
        tries = 0
        while True:
            tries += 1
            response: aiohttp.ClientResponse | None = None
            try:
                async with asyncio.timeout(settings.first_token_timeout_s):
                    response = await self._client().post(
                        self._url, data=body, headers=self._headers, allow_redirects=False
                    )
                    await self._check(response)
                    chunks = response.content.iter_any()
                    parser = Parser(settings.think_tags)
                    first = await self._first(chunks, parser)
                return response, chunks, parser, first
            except _Retry as retry:
                failure = retry
            except aiohttp.ClientError as exc:
                failure = _Retry(f"the model could not be reached ({_describe(exc)})")
            except TimeoutError:
                failure = _Retry(f"the model sent nothing in {settings.first_token_timeout_s:g} s")
            except BaseException:
                if response is not None:
                    response.close()
                raise
            if response is not None:
                response.close()
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

    async def _check(self, response: aiohttp.ClientResponse) -> None:
        """Return if the answer is a stream; raise ``_Retry`` or ``ModelError`` if not."""
        status = response.status
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

    async def _first(self, chunks: AsyncIterator[bytes], parser: Parser) -> Chunk | None:
        """Return the first text; None if the stream ended without one."""
        try:
            async for data in chunks:
                chunk = parser.feed(data)
                if chunk is not None:
                    return chunk
                if parser.done:
                    return None
        except BadChunk as exc:
            raise self._error(str(exc)) from None
        if parser.finish_reason is None:
            raise _Retry("the model's stream ended before its first text")
        return None

    def _error(self, reason: str, status: int | None = None, *, broken: bool = False) -> ModelError:
        """Return the error to raise, its reason cleared of the key."""
        if self.settings.api_key:
            reason = reason.replace(self.settings.api_key, "[key]")
        return (ModelBroken if broken else ModelError)(reason, status=status)


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows [DONE] (the body's end), so the connection can be used again."""
    try:
        async with asyncio.timeout(DRAIN_S):
            async for _ in chunks:
                pass
    except (TimeoutError, aiohttp.ClientError):
        pass  # the connection is closed instead


async def _error_message(response: aiohttp.ClientResponse) -> str:
    """Return ": <the model's message>" from an error answer, or "" if it gave none."""
    body = b""
    try:
        async for data in response.content.iter_any():
            body += data
            if len(body) >= ERROR_BODY_BYTES:
                break
    except (aiohttp.ClientError, TimeoutError):
        pass
    message = ""
    try:
        error = decode_error(body)
        if error.error is not None:
            message = detail(error.error)
        message = message or error.message or error.detail or ""
    except msgspec.MsgspecError:
        message = body[:REASON_CHARS].decode("utf-8", "replace")
    message = " ".join(message.split())
    return f": {clip(message)}" if message else ""


def _retry_after(headers: Mapping[str, str]) -> float | None:
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


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {clip(text)}" if text else type(exc).__name__


def _tries(tries: int) -> str:
    return "1 try" if tries == 1 else f"{tries} tries"
