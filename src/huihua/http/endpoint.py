"""What a row of the endpoint table is (endpoints.py holds the table itself)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from huihua.access.credentials import Principal
from huihua.http.context import Context
from huihua.wire import replies as rp
from huihua.wire import requests as rq
from huihua.wire.parse import Parsed


class Streamed:
    """A reply body made while it is sent: the chunks of one JSON document, in order.

    The status is 200 and the envelope's ``ok`` 0 from the first chunk on, so the work
    that can fail with an ok code must be done before the first chunk is yielded. An error
    after that ends the body short (the client sees JSON cut off) and is logged.
    """

    __slots__ = ("chunks",)

    def __init__(self, chunks: AsyncGenerator[bytes, None]) -> None:
        self.chunks = chunks


class EventStream:
    """A reply as Server-Sent Events (docs/api.md §8.2): frames sent as they are made, until the
    last, the client leaves, or the server stops (``stopping`` set)."""

    __slots__ = ("frames",)

    def __init__(self, frames: AsyncIterator[bytes]) -> None:
        self.frames = frames


# What a handler returns: encoded JSON, a struct to encode, or a body sent as it is made
# (pipeline.py sends each).
Reply = bytes | msgspec.Struct | Streamed | EventStream
Handler = Callable[[Context, Parsed, Principal], Awaitable[Reply]]


@dataclass(frozen=True)
class Endpoint:
    """A POST endpoint: its path, what it takes and gives, and its handler."""

    path: str
    summary: str
    request: type[rq.Request]
    reply: type[rp.Envelope]
    handler: Handler
    # A well-formed request (its user and session need not exist): for the docs and the
    # suites that check every endpoint.
    example: Mapping[str, Any]
    # Decode the body into ``request`` (False: as a plain object, for add_user).
    strict: bool = True
    # Needs no credential even with auth on (/login: how a mini-program gets one).
    public: bool = False
    # Served only with a model configured (docs/api.md §8); ``events``: answers an event stream.
    model: bool = False
    events: bool = False
    # The operator's routes (docs/api.md §9): the service key, or this machine with auth off.
    operator: bool = False
