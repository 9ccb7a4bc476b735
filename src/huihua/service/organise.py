"""Keeping a user's list in order (API.md §5.4): renaming a session.

None of these moves the session in the list: its ``updated_at`` is left as it was.
"""

from __future__ import annotations

from huihua.errors import NotFound
from huihua.service.chats import SESSION_NOT_FOUND
from huihua.service.idempotency import Idempotency, WriteCall
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.replies import RenameSessionReply


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
