"""The §8 methods of ``Client`` and ``AsyncClient``: a reply huihua asks a model for.

``ask_ai`` and ``follow_reply`` return the reply's stream of events (streams.py: resumed by
itself, each event once, to ``Done``); ``stop_reply`` is a plain call. The fields are real
keyword parameters here, where the table's plain calls take ``**fields`` (clients.py): a
stream is not a reply struct, and an ask's fields are the ones a caller most often types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, overload

import httpx
import msgspec

from huihua.client.calls import Policy
from huihua.client.endpoints import BY_NAME, Endpoint
from huihua.client.streams import AsyncReplyStream, ReplyStream, Start, Tries
from huihua.wire.replies import StopReplyReply


class Asking:
    """``Client``'s §8 methods."""

    http: httpx.Client
    policy: Policy
    _stream_timeout: httpx.Timeout
    call: Callable[[Endpoint, dict[str, Any]], Any]

    @overload
    def ask_ai(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        session_title: str | None = None,
        msg: str | None = None,
        parts: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        model: str | None = None,
        regenerate: bool = False,
        notify: bool = False,
        request_id: str | None = None,
        stream: Literal[True] = True,
    ) -> ReplyStream: ...

    @overload
    def ask_ai(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        session_title: str | None = None,
        msg: str | None = None,
        parts: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        model: str | None = None,
        regenerate: bool = False,
        notify: bool = False,
        request_id: str | None = None,
        stream: Literal[False],
    ) -> Start: ...

    def ask_ai(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        session_title: str | None = None,
        msg: str | None = None,
        parts: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        model: str | None = None,
        regenerate: bool = False,
        notify: bool = False,
        request_id: str | None = None,
        stream: bool = True,
    ) -> ReplyStream | Start:
        """Return the stream of the reply the model gives (POST /ask_ai): its events,
        resumed by themselves when the connection breaks (streams.py); ``.collect()`` reads
        it to the end and returns the :class:`Reply`. The question is ``msg`` (and
        ``parts``, ``meta``), or ``regenerate=True`` for the session's last reply again.

        With ``stream=False``, return the :class:`Start` alone, as soon as the
        question and the reply's placeholder are written (the reply is generated all the
        same: follow it with :meth:`follow_reply`). A ``request_id`` is made when none is
        given; every try of the ask sends the same one, so the model is asked once.
        Errors before the stream starts raise the HuihuaError of their ok code.
        """
        fields = ask_fields(
            user_id=user_id,
            session_id=session_id,
            session_title=session_title,
            msg=msg,
            parts=parts,
            meta=meta,
            model=model,
            regenerate=regenerate,
            notify=notify,
            request_id=request_id,
        )
        if stream:
            return ReplyStream(self.http, Tries(self.policy, ask=fields), self._stream_timeout)
        return start_of(self.call(BY_NAME["ask_ai"], {**fields, "stream": False}))

    def follow_reply(
        self, *, user_id: str, session_id: str, seq: int, after: int = 0
    ) -> ReplyStream:
        """Return the stream of reply ``seq`` from the event after ``after`` (POST
        /follow_reply): the events it has made, then the live ones, to :class:`Done`;
        resumed by itself as :meth:`ask_ai`'s is. With ``after`` 0 it begins with the
        :class:`Start`; a ``replace`` delta brings the whole text when the server no longer
        keeps the events in between."""
        fields = {"user_id": user_id, "session_id": session_id, "seq": seq, "after": after}
        return ReplyStream(self.http, Tries(self.policy, follow=fields), self._stream_timeout)

    def stop_reply(
        self, *, user_id: str, session_id: str, seq: int, request_id: str | None = None
    ) -> StopReplyReply:
        """Return /stop_reply's reply (``seq``, ``status`` "cancelled"): the model is
        stopped, the reply keeps its text, and its streams end with :class:`Done`. A reply
        already finished raises NotApplicable (ok 11)."""
        fields: dict[str, Any] = {"user_id": user_id, "session_id": session_id, "seq": seq}
        if request_id:
            fields["request_id"] = request_id
        reply: StopReplyReply = self.call(BY_NAME["stop_reply"], fields)
        return reply


class AsyncAsking:
    """``AsyncClient``'s §8 methods."""

    http: httpx.AsyncClient
    policy: Policy
    _stream_timeout: httpx.Timeout
    call: Callable[[Endpoint, dict[str, Any]], Awaitable[Any]]

    @overload
    def ask_ai(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        session_title: str | None = None,
        msg: str | None = None,
        parts: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        model: str | None = None,
        regenerate: bool = False,
        notify: bool = False,
        request_id: str | None = None,
        stream: Literal[True] = True,
    ) -> AsyncReplyStream: ...

    @overload
    def ask_ai(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        session_title: str | None = None,
        msg: str | None = None,
        parts: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        model: str | None = None,
        regenerate: bool = False,
        notify: bool = False,
        request_id: str | None = None,
        stream: Literal[False],
    ) -> Awaitable[Start]: ...

    def ask_ai(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        session_title: str | None = None,
        msg: str | None = None,
        parts: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        model: str | None = None,
        regenerate: bool = False,
        notify: bool = False,
        request_id: str | None = None,
        stream: bool = True,
    ) -> AsyncReplyStream | Awaitable[Start]:
        """As :meth:`Client.ask_ai`; with ``stream=False``, an awaitable of the Start."""
        fields = ask_fields(
            user_id=user_id,
            session_id=session_id,
            session_title=session_title,
            msg=msg,
            parts=parts,
            meta=meta,
            model=model,
            regenerate=regenerate,
            notify=notify,
            request_id=request_id,
        )
        if stream:
            return AsyncReplyStream(self.http, Tries(self.policy, ask=fields), self._stream_timeout)
        return self._ask_stored(fields)

    async def _ask_stored(self, fields: dict[str, Any]) -> Start:
        return start_of(await self.call(BY_NAME["ask_ai"], {**fields, "stream": False}))

    def follow_reply(
        self, *, user_id: str, session_id: str, seq: int, after: int = 0
    ) -> AsyncReplyStream:
        """As :meth:`Client.follow_reply`: ``async for`` over its events."""
        fields = {"user_id": user_id, "session_id": session_id, "seq": seq, "after": after}
        return AsyncReplyStream(self.http, Tries(self.policy, follow=fields), self._stream_timeout)

    async def stop_reply(
        self, *, user_id: str, session_id: str, seq: int, request_id: str | None = None
    ) -> StopReplyReply:
        """As :meth:`Client.stop_reply`."""
        fields: dict[str, Any] = {"user_id": user_id, "session_id": session_id, "seq": seq}
        if request_id:
            fields["request_id"] = request_id
        reply: StopReplyReply = await self.call(BY_NAME["stop_reply"], fields)
        return reply


def ask_fields(**fields: Any) -> dict[str, Any]:
    """Return /ask_ai's body fields: those given, without the ones left at their default."""
    return {k: v for k, v in fields.items() if v is not None and v is not False}


def start_of(reply: Any) -> Start:
    """Return an ask's plain reply (``stream: false``: start's data) as its Start."""
    data = reply if isinstance(reply, dict) else msgspec.structs.asdict(reply)
    return msgspec.convert(data, Start)
