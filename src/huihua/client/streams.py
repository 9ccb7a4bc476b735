"""A reply huihua asks a model for, as the client reads it: typed events, resumed by itself.

/ask_ai and /follow_reply answer ``text/event-stream`` (docs/api.md §8.2, §8.3)::

    id: 1
    event: start
    data: {"request_id":"…","ok":0,"failed":"","session_id":"…","seqs":[7,8],"created_at":"…"}

Each frame becomes a :class:`Start`, :class:`Delta` or :class:`Done` carrying its ``id``;
comment lines (``: ping``, sent every 15 s of silence) keep the connection alive and are
dropped. When a stream breaks before ``done`` (a network error, the server ending it,
``idle_timeout`` seconds without a byte), the client asks again by itself: /ask_ai with
the same ``request_id`` while no ``start`` has come (the server never asks the model twice
for one request_id), else /follow_reply from the last event id it has. Events it already
has (ids up to that one, the ``start`` every stream begins with) are skipped, so the
caller sees one stream, each id once, to ``done``. Tries are counted as for every call
(calls.py: back-off, ok 7's ``Retry-After``, ok 8, ``NoReply`` once they are spent), and
counted afresh each time a stream brings a new event. An answer that is not a stream is
the envelope of an error, raised as its ``HuihuaError``.

:class:`Reply` applies the events (``replace`` deltas, a ``blocked`` reply's notice) into
the text so far. :class:`Tries` decides, without I/O; :class:`ReplyStream` and
:class:`AsyncReplyStream` send, read and sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from huihua.client import calls
from huihua.client.calls import Call, NoReply, Policy
from huihua.client.endpoints import BY_NAME

IDLE_TIMEOUT = 45.0  # seconds without a byte (pings come every 15) before a stream is cut
_ACCEPT = {"accept": "text/event-stream"}
_encode = msgspec.json.Encoder().encode


class Start(msgspec.Struct, frozen=True, kw_only=True):
    """The first event of every stream of a reply: what the ask wrote (its ``request_id``,
    the session, ``seqs``: the question's and the reply's seq, or the reply's alone)."""

    id: int = 1
    request_id: str
    session_id: str
    seqs: list[int]
    created_at: str

    @property
    def seq(self) -> int:
        """Return the reply's seq: the last of ``seqs``."""
        return self.seqs[-1]


class Delta(msgspec.Struct, frozen=True, kw_only=True):
    """Text to append to the reply's ``msg`` and ``reasoning``; with ``replace``, the whole
    text so far, which replaces both."""

    id: int = 0
    msg: str = ""
    reasoning: str = ""
    replace: bool = False


class Done(msgspec.Struct, frozen=True, kw_only=True):
    """The last event: the reply is committed with ``status`` (complete, failed, cancelled
    or blocked), ``failed`` the reason or "", ``meta`` (model, finish_reason, usage, …);
    ``msg`` is the text that replaced a ``blocked`` reply, None otherwise."""

    id: int = 0
    seq: int
    status: str
    failed: str = ""
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    msg: str | None = None


Event = Start | Delta | Done
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "start": msgspec.json.Decoder(Start),
    "delta": msgspec.json.Decoder(Delta),
    "done": msgspec.json.Decoder(Done),
}


@dataclass
class Reply:
    """A reply as its events make it: ``apply`` each event, read the text so far.

    ``status`` is "streaming" until :class:`Done` comes, then the reply's final status.
    """

    start: Start | None = None
    msg: str = ""
    reasoning: str = ""
    done: Done | None = None

    def apply(self, event: Event) -> None:
        """Apply one event to the text so far."""
        if isinstance(event, Delta):
            if event.replace:
                self.msg, self.reasoning = event.msg, event.reasoning
            else:
                self.msg += event.msg
                self.reasoning += event.reasoning
        elif isinstance(event, Done):
            self.done = event
            if event.msg is not None:  # blocked: the notice replaces the text
                self.msg, self.reasoning = event.msg, ""
        else:
            self.start = event

    @property
    def status(self) -> str:
        """Return "streaming" until the reply is done, then its status."""
        return self.done.status if self.done else "streaming"

    @property
    def failed(self) -> str:
        """Return why the reply failed, or ""."""
        return self.done.failed if self.done else ""

    @property
    def meta(self) -> dict[str, Any]:
        """Return the finished reply's meta ({} until it is done)."""
        return self.done.meta if self.done else {}


class BrokenStream(Exception):
    """The stream ended before ``done``, or sent a frame that is not an event."""


class _Frames:
    """``text/event-stream`` lines in, (id, event, data) frames out (the rules huihua's
    streams need: comments dropped, ``data`` lines joined, one optional space after ':')."""

    def __init__(self) -> None:
        self.id, self.event = "", ""
        self.data: list[str] = []

    def line(self, line: str) -> tuple[str, str, str] | None:
        if line.startswith(":"):
            return None
        if line:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                self.data.append(value)
            elif name == "event":
                self.event = value
            elif name == "id":
                self.id = value
            return None
        frame = (self.id, self.event, "\n".join(self.data)) if self.data else None
        self.id, self.event, self.data = "", "", []
        return frame


class Tries:
    """The tries of one reply's stream: what to send next, and what each answer means."""

    def __init__(
        self,
        policy: Policy,
        *,
        ask: dict[str, Any] | None = None,
        follow: dict[str, Any] | None = None,
    ) -> None:
        self.policy = policy
        self.reply = Reply()
        self.finished = False
        self._frames = _Frames()
        self._follow: dict[str, Any] | None = None
        if ask is not None:
            self.call = Call(BY_NAME["ask_ai"], ask, policy)
            self.last = 0
            self._user = {"user_id": ask["user_id"]}
        else:
            assert follow is not None
            self.last = int(follow.get("after") or 0)
            self._following({k: v for k, v in follow.items() if k != "after"})
        self.request_id = self.call.request_id

    def _following(self, fields: dict[str, Any]) -> None:
        self._follow = fields
        self.call = Call(BY_NAME["follow_reply"], fields, self.policy)

    def request(self) -> tuple[str, bytes]:
        """Return the path and body of the next try."""
        self._frames = _Frames()
        if self._follow is None:
            return self.call.endpoint.path, self.call.body
        body = {"request_id": self.call.request_id, **self._follow, "after": self.last}
        return self.call.endpoint.path, _encode(body)

    @staticmethod
    def is_stream(status: int, headers: httpx.Headers) -> bool:
        """Return whether an answer is the event stream (else it is an envelope)."""
        content_type = headers.get("content-type", "")
        return status == 200 and content_type.startswith("text/event-stream")

    def line(self, line: str) -> Event | None:
        """Return the new event a line completes, or None; raise BrokenStream for a frame
        that is not one of huihua's events."""
        frame = self._frames.line(line)
        if frame is None:
            return None
        id_text, name, data = frame
        try:
            number = int(id_text)
            decoder = _DECODERS.get(name)
            event = decoder.decode(data) if decoder else None
        except (ValueError, msgspec.DecodeError) as error:
            raise BrokenStream(f"event {id_text!r} ({name!r}) is not readable: {error}") from error
        if number <= self.last:
            return None  # had it already: a stream begins again with start, or overlaps
        self.last = number
        self.call.sent = 0  # a stream that brings news earns a fresh count of tries
        if event is None:
            return None  # an event this client does not know: counted, not shown
        event = msgspec.structs.replace(event, id=number)
        self.reply.apply(event)
        if isinstance(event, Start) and self._follow is None:
            # The follows carry the ask's request_id: the server's logs show one request,
            # and a NoReply names the id whose ask is safe to send again.
            fields = {**self._user, "session_id": event.session_id, "seq": event.seq}
            self._following({**fields, "request_id": self.request_id})
        elif isinstance(event, Done):
            self.finished = True
        return event

    def cut(self) -> float:
        """The stream ended before ``done``: return the wait before the next try."""
        return self.lost(BrokenStream(f"the stream ended after event {self.last}, before done"))

    def lost(self, error: Exception) -> float:
        """No answer, or a broken stream: return the wait before the next try (NoReply
        raised once the tries are spent)."""
        return self.call.lost(error).delay

    def answered(self, status: int, headers: httpx.Headers, content: bytes) -> float:
        """An answer that is not a stream: return the wait before the next try, or raise
        the HuihuaError of its ok code."""
        outcome = self.call.answered(status, headers, content)
        if isinstance(outcome, calls.Done):
            failure = NoReply(f"HTTP {status}: {self.call.endpoint.path} did not stream")
            failure.status, failure.request_id = status, self.request_id  # type: ignore[attr-defined]
            raise failure
        return outcome.delay


class ReplyStream:
    """The events of one reply (:class:`Start`, :class:`Delta`…, :class:`Done`), read as
    they come and resumed by themselves when the connection breaks (see the module's
    docstring). Iterate over it, or call :meth:`collect`; ``reply`` is the :class:`Reply`
    so far, and ``request_id`` the ask's (sent on every try, and named by ``NoReply``: an
    ask sent again with it gets the same reply's stream, never a second answer).

    ::

        stream = client.ask_ai(user_id="u1", msg="写一首秋天的诗")
        for event in stream:
            if isinstance(event, Delta):
                print(event.msg, end="", flush=True)
        print(stream.reply.status)

    Nothing is sent until it is iterated. Leaving early (``break``): ``close()`` it, or
    use it as a context manager; the reply is generated to its end all the same.
    """

    def __init__(self, http: httpx.Client, tries: Tries, timeout: httpx.Timeout) -> None:
        self.tries = tries
        self.reply = tries.reply
        self.request_id = tries.request_id
        self._events = self._run(http, timeout)

    def _run(self, http: httpx.Client, timeout: httpx.Timeout) -> Generator[Event, None, None]:
        tries = self.tries
        while True:
            path, body = tries.request()
            try:
                with http.stream(
                    "POST", path, content=body, headers=_ACCEPT, timeout=timeout
                ) as response:
                    if not tries.is_stream(response.status_code, response.headers):
                        content = response.read()
                        delay = tries.answered(response.status_code, response.headers, content)
                    else:
                        for line in response.iter_lines():
                            event = tries.line(line)
                            if event is not None:
                                yield event
                                if tries.finished:
                                    return
                        delay = tries.cut()
            except (httpx.TransportError, BrokenStream) as error:
                delay = tries.lost(error)
            time.sleep(delay)

    def __iter__(self) -> ReplyStream:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def collect(self) -> Reply:
        """Return the finished :class:`Reply`, reading the rest of the stream."""
        for _ in self:
            pass
        return self.reply

    def close(self) -> None:
        """Stop reading (the reply itself goes on: /stop_reply stops it)."""
        self._events.close()

    def __enter__(self) -> ReplyStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncReplyStream:
    """The same as :class:`ReplyStream`, for asyncio: ``async for``, ``await collect()``,
    ``await aclose()`` or ``async with``."""

    def __init__(self, http: httpx.AsyncClient, tries: Tries, timeout: httpx.Timeout) -> None:
        self.tries = tries
        self.reply = tries.reply
        self.request_id = tries.request_id
        self._events = self._run(http, timeout)

    async def _run(
        self, http: httpx.AsyncClient, timeout: httpx.Timeout
    ) -> AsyncGenerator[Event, None]:
        tries = self.tries
        while True:
            path, body = tries.request()
            try:
                async with http.stream(
                    "POST", path, content=body, headers=_ACCEPT, timeout=timeout
                ) as response:
                    if not tries.is_stream(response.status_code, response.headers):
                        content = await response.aread()
                        delay = tries.answered(response.status_code, response.headers, content)
                    else:
                        async for line in response.aiter_lines():
                            event = tries.line(line)
                            if event is not None:
                                yield event
                                if tries.finished:
                                    return
                        delay = tries.cut()
            except (httpx.TransportError, BrokenStream) as error:
                delay = tries.lost(error)
            await asyncio.sleep(delay)

    def __aiter__(self) -> AsyncReplyStream:
        return self

    async def __anext__(self) -> Event:
        return await anext(self._events)

    async def collect(self) -> Reply:
        """Return the finished :class:`Reply`, reading the rest of the stream."""
        async for _ in self:
            pass
        return self.reply

    async def aclose(self) -> None:
        """Stop reading (the reply itself goes on: /stop_reply stops it)."""
        await self._events.aclose()

    async def __aenter__(self) -> AsyncReplyStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
