"""Keeping a user's list in order, and feedback on answers (docs/api.md §5.4): renaming a
session, pinning one, rating an ``ai`` message.

None of these touches the session's ``updated_at`` (its place by activity): a pinned
session is listed first by when it was pinned, and back in its place once unpinned.
"""

from __future__ import annotations

from typing import Any

from huihua.errors import NotApplicable, NotFound
from huihua.service.chats import SESSION_NOT_FOUND
from huihua.service.idempotency import Idempotency, WriteCall
from huihua.service.messages import MESSAGE_NOT_FOUND
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.replies import PinSessionReply, RateChatReply, RenameSessionReply


async def rename_session(
    store: Store, call: WriteCall, user_id: str, session_id: str, title: str
) -> bytes:
    """Give a session the title it keeps from then on; return the encoded reply."""

    def work(db: Db, now: int) -> RenameSessionReply:
        if not q.rename_session(db, user_id, session_id, title):
            raise NotFound(SESSION_NOT_FOUND)
        return RenameSessionReply(
            request_id=call.request_id, session_id=session_id, session_title=title
        )

    return await store.write(Idempotency(call, user_id, work))


async def pin_session(
    store: Store, call: WriteCall, user_id: str, session_id: str, pinned: bool
) -> bytes:
    """Pin a session (one already pinned keeps its place) or unpin it; return the encoded
    reply."""

    def work(db: Db, now: int) -> PinSessionReply:
        if not q.pin_session(db, user_id, session_id, now if pinned else None):
            raise NotFound(SESSION_NOT_FOUND)
        return PinSessionReply(request_id=call.request_id, session_id=session_id, pinned=pinned)

    return await store.write(Idempotency(call, user_id, work))


async def rate_chat(store: Store, call: WriteCall, req: Any) -> bytes:
    """Set (or with ``""`` clear) the feedback on an ``ai`` message; return the reply."""

    def work(db: Db, now: int) -> RateChatReply:
        role = q.message_role(db, req.user_id, req.session_id, req.seq)
        if role is None:
            raise NotFound(MESSAGE_NOT_FOUND)
        if role != "ai":
            raise NotApplicable(f'seq: only an "ai" message can be rated; this one is "{role}"')
        rating = req.rating or None
        q.rate_message(db, req.user_id, req.session_id, req.seq, rating, req.comment or None)
        return RateChatReply(request_id=call.request_id, seq=req.seq, rating=req.rating)

    return await store.write(Idempotency(call, req.user_id, work))
