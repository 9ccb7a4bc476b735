"""``Client`` and ``AsyncClient``: a method per endpoint of docs/api.md, on httpx.

Both take the base URL and a credential (the service key of the app's back end, or a user
token from /login), and get their methods from the one table (endpoints.py): each takes
the endpoint's fields as keyword arguments and returns its reply struct, or raises the
``HuihuaError`` subclass of the reply's ok code (calls.py says when a call is sent again).
``sessions`` and ``messages`` iterate over a user's sessions and a session's messages,
following the cursors. ``ask_ai``, ``follow_reply`` and ``stop_reply`` (asking.py) are the
replies huihua asks a model for: a stream of events that resumes by itself (streams.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from huihua.client.asking import Asking, AsyncAsking
from huihua.client.calls import Call, Done, Policy, Retry
from huihua.client.endpoints import BY_NAME, ENDPOINTS, Endpoint
from huihua.client.streams import IDLE_TIMEOUT
from huihua.wire.replies import ChatOut, HealthReply, SessionOut

_TIMEOUT = 30.0

if TYPE_CHECKING:  # the endpoint methods, attached at the end of this module, as typed
    from huihua.client.methods_async import AsyncMethods
    from huihua.client.methods_sync import SyncMethods
else:
    AsyncMethods = SyncMethods = object

# The pages sessions() and messages() walk (their methods are made below, out of mypy's sight).
_NAMES, _INFO = BY_NAME["query_session_names"], BY_NAME["query_session_info"]


def _headers(service_key: str | None, token: str | None) -> dict[str, str]:
    if service_key and token:
        raise ValueError("give service_key or token, not both")
    headers = {"content-type": "application/json"}
    if service_key or token:
        headers["authorization"] = f"Bearer {service_key or token}"
    return headers


class _Pages:
    """The requests of a paged read and what each reply gives (shared by both clients)."""

    def __init__(self, kind: str, fields: dict[str, Any]) -> None:
        self.kind, self.fields, self.done = kind, fields, False

    def next_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.fields.items() if v is not None}

    def take(self, reply: Any) -> list[Any]:
        if self.kind == "sessions":
            self.fields["cursor"] = reply.next_cursor or None
            self.done = not reply.next_cursor
            return list(reply.sessions)
        chats = list(reversed(reply.chats))  # newest first
        self.done = not reply.has_more or not chats
        if chats:
            self.fields["before_seq"] = chats[-1].seq
        return chats


class Client(Asking, SyncMethods):
    """A blocking client. Use it as a context manager, or call ``close()``."""

    def __init__(
        self,
        base_url: str,
        *,
        service_key: str | None = None,
        token: str | None = None,
        timeout: float = _TIMEOUT,
        retries: int = 4,
        backoff: float = 0.25,
        idle_timeout: float = IDLE_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.policy = Policy(retries=retries, backoff=backoff)
        self._stream_timeout = httpx.Timeout(timeout, read=idle_timeout)
        self.http = httpx.Client(
            base_url=base_url,
            headers=_headers(service_key, token),
            timeout=timeout,
            transport=transport,
        )

    def call(self, endpoint: Endpoint, fields: dict[str, Any]) -> Any:
        """Return the reply of ``endpoint`` called with ``fields`` (see calls.py)."""
        call = Call(endpoint, fields, self.policy)
        while True:
            try:
                response = self.http.post(endpoint.path, content=call.body)
            except httpx.TransportError as error:
                outcome: Done | Retry = call.lost(error)
            else:
                outcome = call.answered(response.status_code, response.headers, response.content)
            if isinstance(outcome, Done):
                return outcome.reply
            time.sleep(outcome.delay)

    def healthz(self) -> HealthReply:
        """Return /healthz's reply (ok 8 is a reply here, not an error)."""
        return _health(self.http.get("/healthz"))

    def sessions(
        self, *, user_id: str | None = None, limit: int | None = None
    ) -> Iterator[SessionOut]:
        """Yield the user's sessions (pinned first, then most recently active first), a page at
        a time."""
        pages = _Pages("sessions", {"user_id": user_id, "limit": limit})
        while not pages.done:
            yield from pages.take(self.call(_NAMES, pages.next_fields()))

    def messages(
        self, *, session_id: str, user_id: str | None = None, limit: int | None = None
    ) -> Iterator[ChatOut]:
        """Yield a session's messages, newest first, scrolling back a page at a time."""
        pages = _Pages("messages", {"user_id": user_id, "session_id": session_id, "limit": limit})
        while not pages.done:
            yield from pages.take(self.call(_INFO, pages.next_fields()))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(AsyncAsking, AsyncMethods):
    """The same as :class:`Client`, for asyncio: every method is a coroutine."""

    def __init__(
        self,
        base_url: str,
        *,
        service_key: str | None = None,
        token: str | None = None,
        timeout: float = _TIMEOUT,
        retries: int = 4,
        backoff: float = 0.25,
        idle_timeout: float = IDLE_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = Policy(retries=retries, backoff=backoff)
        self._stream_timeout = httpx.Timeout(timeout, read=idle_timeout)
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers=_headers(service_key, token),
            timeout=timeout,
            transport=transport,
        )

    async def call(self, endpoint: Endpoint, fields: dict[str, Any]) -> Any:
        """Return the reply of ``endpoint`` called with ``fields`` (see calls.py)."""
        call = Call(endpoint, fields, self.policy)
        while True:
            try:
                response = await self.http.post(endpoint.path, content=call.body)
            except httpx.TransportError as error:
                outcome: Done | Retry = call.lost(error)
            else:
                outcome = call.answered(response.status_code, response.headers, response.content)
            if isinstance(outcome, Done):
                return outcome.reply
            await asyncio.sleep(outcome.delay)

    async def healthz(self) -> HealthReply:
        """Return /healthz's reply (ok 8 is a reply here, not an error)."""
        return _health(await self.http.get("/healthz"))

    async def sessions(
        self, *, user_id: str | None = None, limit: int | None = None
    ) -> AsyncIterator[SessionOut]:
        """Yield the user's sessions (pinned first, then most recently active first), a page at
        a time."""
        pages = _Pages("sessions", {"user_id": user_id, "limit": limit})
        while not pages.done:
            for session in pages.take(await self.call(_NAMES, pages.next_fields())):
                yield session

    async def messages(
        self, *, session_id: str, user_id: str | None = None, limit: int | None = None
    ) -> AsyncIterator[ChatOut]:
        """Yield a session's messages, newest first, scrolling back a page at a time."""
        pages = _Pages("messages", {"user_id": user_id, "session_id": session_id, "limit": limit})
        while not pages.done:
            for chat in pages.take(await self.call(_INFO, pages.next_fields())):
                yield chat

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _health(response: httpx.Response) -> HealthReply:
    return msgspec.json.decode(response.content, type=HealthReply)


def _method(endpoint: Endpoint, is_async: bool) -> Any:
    doc = (
        f"POST {endpoint.path}: return its reply ({endpoint.reply_name}), or raise the "
        f"HuihuaError of its ok code. Fields: {', '.join(endpoint.fields or ('any',))}."
    )
    if is_async:

        async def method(self: AsyncClient, **fields: Any) -> Any:
            return await self.call(endpoint, fields)

    else:

        def method(self: Client, **fields: Any) -> Any:  # type: ignore[misc]
            return self.call(endpoint, fields)

    method.__name__ = method.__qualname__ = endpoint.name
    method.__doc__ = doc
    return method


for _endpoint in ENDPOINTS:
    if not hasattr(Client, _endpoint.name):  # not written out (asking.py's are)
        setattr(Client, _endpoint.name, _method(_endpoint, is_async=False))
        setattr(AsyncClient, _endpoint.name, _method(_endpoint, is_async=True))
