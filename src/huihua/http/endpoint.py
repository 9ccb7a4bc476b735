"""What a row of the endpoint table is (endpoints.py holds the table itself)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from huihua.access.credentials import Principal
from huihua.http.context import Context
from huihua.wire import replies as rp
from huihua.wire import requests as rq
from huihua.wire.parse import Parsed

Reply = bytes | msgspec.Struct  # or pipeline.Streamed
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
