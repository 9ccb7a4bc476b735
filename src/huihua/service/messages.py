"""Changing a stored message: /update_chat and /delete_chat (API.md §5.2).

Both lock the session's row before the message's, as an append does, so two writes of one
session queue in the same order everywhere (no deadlock between them). A session's
``updated_at`` moves with an update (the message changed), not with a delete.
"""

from __future__ import annotations

from typing import Any

import msgspec

from huihua import timestamps
from huihua.errors import InvalidRequest, NotApplicable, NotFound
from huihua.service.chats import SESSION_NOT_FOUND
from huihua.service.idempotency import Idempotency, WriteCall
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.messages import shape_problem
from huihua.wire.replies import DeleteChatReply, UpdateChatReply

MESSAGE_NOT_FOUND = "seq: no such message in this session"
NOT_AI = 'seq: only an "ai" message can be updated; this one is "{role}"'
NOT_AGAIN = 'status: a finished reply ("{old}") cannot be set back to "streaming"'
_encode = msgspec.json.Encoder().encode
_UNSET = msgspec.UNSET


def _json_text(value: Any) -> str | None:
    """A list field as stored: its JSON, or None when cleared (null or [])."""
    return _encode(value).decode() if value else None


async def update_chat(store: Store, call: WriteCall, req: Any, meta: bytes | None) -> bytes:
    """Replace the fields given of one ``ai`` message; return the encoded reply.

    ``req`` is the checked request (a field left out is UNSET; null clears); ``meta`` its
    meta as JSON. The rules of a message are checked on the one that results.
    """
    given: dict[str, Any] = {}
    if req.msg is not _UNSET:
        given["msg"] = req.msg or ""
    if req.parts is not _UNSET:
        given["parts"] = _json_text(req.parts)
    if req.reasoning is not _UNSET:
        given["reasoning"] = req.reasoning or None
    if req.tool_calls is not _UNSET:
        given["tool_calls"] = _json_text(req.tool_calls)
    if req.meta is not _UNSET:
        given["meta"] = meta.decode() if meta is not None else None
    if req.status is not _UNSET:
        given["status"] = None if req.status in (None, "complete") else req.status

    def work(db: Db, now: int) -> UpdateChatReply:
        if not q.lock_session(db, req.user_id, req.session_id):
            raise NotFound(SESSION_NOT_FOUND)
        row = q.message_for_update(db, req.user_id, req.session_id, req.seq)
        if row is None:
            raise NotFound(MESSAGE_NOT_FOUND)
        if row.role != "ai":
            raise NotApplicable(NOT_AI.format(role=row.role))
        result = {name: given.get(name, getattr(row, name)) for name in q.CHANGEABLE}
        old = row.status or "complete"
        if result["status"] == "streaming" and old != "streaming":
            raise NotApplicable(NOT_AGAIN.format(old=old))
        problem = shape_problem(
            "ai",
            result["msg"],
            has_parts=result["parts"] is not None,
            has_calls=result["tool_calls"] is not None,
            has_reasoning=result["reasoning"] is not None,
            status=result["status"],
            tool_call_id=None,
            name=None,
        )
        if problem is not None:
            raise InvalidRequest(problem)
        q.update_message(db, req.user_id, req.session_id, req.seq, now, given, role=row.role)
        edited = req.seq if "msg" in given else None
        q.touch_session(db, req.user_id, req.session_id, now, edited_seq=edited)
        return UpdateChatReply(
            request_id=call.request_id, seq=req.seq, updated_at=timestamps.rfc3339(now)
        )

    return await store.write(Idempotency(call, req.user_id, work))


async def delete_chat(
    store: Store, call: WriteCall, user_id: str, session_id: str, seq: int, *, later: bool
) -> bytes:
    """Delete the message at ``seq`` (``later``: and every later one); return the encoded
    reply with how many went. The session keeps its highest seq: none is given again."""

    def work(db: Db, now: int) -> DeleteChatReply:
        if not q.lock_session(db, user_id, session_id):
            raise NotFound(SESSION_NOT_FOUND)
        deleted = q.delete_messages(db, user_id, session_id, seq, later=later)
        if deleted == 0:
            raise NotFound(MESSAGE_NOT_FOUND if not later else "from_seq: no message from there")
        q.uncount_messages(db, user_id, session_id, deleted)
        return DeleteChatReply(request_id=call.request_id, deleted=deleted)

    return await store.write(Idempotency(call, user_id, work))
