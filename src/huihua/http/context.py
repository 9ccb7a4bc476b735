"""What a handler works with (:class:`Context`), made once the store is open, and who
asked for a write (:func:`write_call`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from huihua import service
from huihua.access.credentials import Access
from huihua.access.wechat import WeChat
from huihua.config import Settings
from huihua.relay.hub import Relay
from huihua.service.replies import Replies
from huihua.store import Store
from huihua.wire.parse import Parsed
from huihua.wire.rules import Limits


@dataclass(frozen=True)
class Context:
    """What a handler works with: the settings (and the field limits they set), the open
    store, who may call what (access), and the WeChat client (None without /login)."""

    settings: Settings
    limits: Limits
    store: Store
    access: Access
    wechat: WeChat | None = None
    # Replies asked of a model (§8): None without a model configured.
    replies: Replies | None = None
    # Set when the server starts stopping: event streams end (their clients follow again).
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def forget(
        self, user_id: str, session_id: str | None = None, seq: int = 0, *, later: bool = True
    ) -> None:
        """Stop the replies a deletion just took (relay/hub.py ``forget``)."""
        if self.replies is not None:
            self.replies.relay.forget(user_id, session_id, seq, later=later)

    @property
    def relay(self) -> Relay:
        assert self.replies is not None  # the routes of §8 are served only then
        return self.replies.relay


def write_call(path: str, parsed: Parsed, request: Any) -> service.WriteCall:
    """Return who asked for a write: the id echoed, the client's own for idempotency."""
    client_rid = request.get("request_id") if isinstance(request, dict) else request.request_id
    return service.WriteCall(
        path=path,
        request_id=parsed.request_id,
        client_request_id=client_rid,
        request=request,
    )
