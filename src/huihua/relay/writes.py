"""The generation task's units of work: a flush of the text so far, the reply's last write,
and the failure of a reply whose host died. Each is a function of a connection that the
store's runner runs in its own transaction (as every use case is).

Each locks the session, then the message, as an append and /update_chat do (the same order
everywhere: no deadlock between them), and writes only while the message is still the
reply it generates: deleted, it writes nothing (no row comes back); finished by someone
else, it leaves it as it is.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from huihua.store import queries as q
from huihua.store.sql import Db

_encode = msgspec.json.Encoder().encode

STREAMING = "streaming"


class Flushed(enum.Enum):
    KEPT = "kept"  # the text is stored, the lease moved
    GONE = "gone"  # the message (or its session) was deleted: stop, write nothing more
    STOPPED = "stopped"  # another host's /stop_reply set it cancelled in the store


def flush(
    db: Db,
    key: tuple[str, str, int],
    text: tuple[str, str],
    now: int,
    lease_until: int,
    events: int,
) -> Flushed:
    """Store the reply's text so far and move its lease (and ``updated_at``)."""
    user_id, session_id, seq = key
    if not q.lock_session(db, user_id, session_id):
        return Flushed.GONE
    row = q.message_for_update(db, user_id, session_id, seq)
    if row is None:
        q.delete_reply(db, user_id, session_id, seq)
        return Flushed.GONE
    if row.status != STREAMING:
        return Flushed.STOPPED
    msg, reasoning = text
    q.update_message(
        db, user_id, session_id, seq, now, {"msg": msg, "reasoning": reasoning or None}
    )
    q.touch_session(db, user_id, session_id, now, edited_seq=seq)
    q.move_lease(db, user_id, session_id, seq, lease_until, events)
    return Flushed.KEPT


class Final(msgspec.Struct):
    """A reply as its task ends it."""

    msg: str
    reasoning: str
    status: str  # complete, failed, cancelled (blocked: §8.6)
    meta: dict[str, Any]
    usage_day: str
    model: str
    prompt_tokens: int
    completion_tokens: int


def finish(db: Db, key: tuple[str, str, int], final: Final, now: int) -> str | None:
    """Write the finished reply, forget its lease and add its tokens to its user's day;
    return the status written (a stop through the store wins: ``cancelled``), or None when
    the message is gone or was finished by someone else (nothing written)."""
    user_id, session_id, seq = key
    if not q.lock_session(db, user_id, session_id):
        return None
    row = q.message_for_update(db, user_id, session_id, seq)
    q.delete_reply(db, user_id, session_id, seq)
    if row is None or row.status not in (STREAMING, "cancelled"):
        return None
    status = "cancelled" if row.status == "cancelled" else final.status
    values = {
        "msg": final.msg,
        "reasoning": final.reasoning or None,
        "status": None if status == "complete" else status,
        "meta": _encode(final.meta).decode(),
    }
    q.update_message(db, user_id, session_id, seq, now, values)
    q.touch_session(db, user_id, session_id, now, edited_seq=seq)
    if final.prompt_tokens or final.completion_tokens:
        q.add_usage(
            db, user_id, final.usage_day, final.model, final.prompt_tokens, final.completion_tokens
        )
    return status


def fail_expired(db: Db, key: tuple[str, str, int], now: int, reason: str) -> bool:
    """Set a reply whose lease ran out ``failed``, keeping its text, with ``meta.error``;
    return whether one was (its lease may have moved meanwhile: then nothing changes)."""
    user_id, session_id, seq = key
    if not q.lock_session(db, user_id, session_id):
        q.delete_reply(db, user_id, session_id, seq)
        return False
    lease = q.reply_lease(db, user_id, session_id, seq)
    if lease is None or lease.lease_until >= now:
        return False
    row = q.message_for_update(db, user_id, session_id, seq)
    q.delete_reply(db, user_id, session_id, seq)
    if row is None or row.status != STREAMING:
        return False
    meta = msgspec.json.decode(row.meta) if row.meta else {}
    meta["error"] = reason
    values = {"status": "failed", "meta": _encode(meta).decode()}
    q.update_message(db, user_id, session_id, seq, now, values)
    q.touch_session(db, user_id, session_id, now)
    return True
