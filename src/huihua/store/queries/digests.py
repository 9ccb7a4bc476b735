"""Search digests (digest.py): reading the parts a query needs, what is left to digest, and
adding messages to a user's digest.

A digest is added to in two steps: the texts of the messages above each session's
``digested_seq`` are read (and their bits computed) in a read transaction, then one short
write applies them (:func:`apply_digest`). Between the two, a session may have changed; the
write moves each session's ``digested_seq`` only if the session is the one that was read
(its ``created_at``, ``digested_seq`` and ``search_edits`` as read: /update_chat counts an
edit in ``search_edits``), and writes no bits at all when no session moved (its user may
have been deleted). The bits it writes are only ever added: a session whose move failed has
its messages still searched by their signatures, and extra bits cost a search, never a result.

Locks are taken in the order sessions, then the digest's rows, as /delete_sessions and
/delete_user take them (sessions, then the digest), so neither can deadlock the other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update

from huihua.store import digest
from huihua.store.queries._common import insert_row, matches
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions, search_digests

_d = search_digests.c
_s = chat_sessions.c
_m = chat_messages.c
_PARTS: dict[int, Statement] = {}
_UNDIGESTED = Statement(
    select(func.coalesce(func.sum(_s.last_seq - _s.digested_seq), 0).label("n")).where(
        matches(_s.user_id), _s.last_seq > _s.digested_seq
    )
)
_TAILS = Statement(
    select(_s.session_id, _s.created_at, _s.digested_seq, _s.last_seq, _s.search_edits)
    .where(matches(_s.user_id), _s.last_seq > _s.digested_seq)
    .order_by(_s.session_id)
)
# The searched messages (those with a signature: user and ai) of a range of seqs.
_TEXTS = Statement(
    select(_m.msg).where(
        matches(_m.user_id),
        matches(_m.session_id),
        _m.seq > bindparam("after"),
        _m.seq <= bindparam("upto"),
        _m.search_0.is_not(None),
    )
)
_MOVE = Statement(
    update(chat_sessions)
    .where(
        matches(_s.user_id),
        matches(_s.session_id),
        _s.created_at == bindparam("created_at"),
        _s.digested_seq == bindparam("seen"),
        _s.search_edits == bindparam("edits"),
    )
    .values(digested_seq=bindparam("upto"))
)
_STORED = Statement(select(_d.part, _d.bits).where(matches(_d.user_id)).with_for_update())
_INSERT_PART = insert_row(search_digests)
_UPDATE_PART = Statement(
    update(search_digests)
    .where(and_(_d.user_id == bindparam("key_user"), _d.part == bindparam("key_part")))
    .values(bits=bindparam("new_bits"))
)
_DELETE = Statement(delete(search_digests).where(matches(_d.user_id)))


def _parts_statement(n: int) -> Statement:
    statement = _PARTS.get(n)
    if statement is None:
        wanted = [bindparam(f"part_{i}") for i in range(n)]
        statement = _PARTS[n] = Statement(
            select(_d.part, _d.bits).where(matches(_d.user_id), _d.part.in_(wanted))
        )
    return statement


def digest_parts(db: Db, user_id: str, parts: list[int]) -> dict[int, bytes] | None:
    """Return the user's digest parts of these numbers (an absent part is all zeros), or
    None: the user has no digest."""
    wanted = [digest.HEAD, *parts]
    params: dict[str, Any] = {f"part_{i}": part for i, part in enumerate(wanted)}
    rows = db.binary_tuples(_parts_statement(len(wanted)), user_id=user_id, **params)
    found = {part: bytes(bits) for part, bits in rows}
    if digest.HEAD not in found:
        return None
    return found


def undigested(db: Db, user_id: str) -> int:
    """Return how many seqs of the user's sessions lie above what the digest holds (the
    messages a digest would add, and those deleted since: an upper bound)."""
    return int(db.scalar(_UNDIGESTED, user_id=user_id) or 0)


def digest_texts(db: Db, user_id: str, most: int) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Return what to add to the user's digest next, at most ``most`` seqs: the sessions,
    each (session_id, created_at, digested_seq, search_edits, upto), and the texts of their
    searched messages above ``digested_seq`` up to ``upto``."""
    chosen: list[tuple[Any, ...]] = []
    texts: list[str] = []
    left = most
    for session_id, created_at, seen, last, edits in db.tuples(_TAILS, user_id=user_id):
        upto = min(last, seen + left)
        rows = db.tuples(_TEXTS, user_id=user_id, session_id=session_id, after=seen, upto=upto)
        texts += [msg for (msg,) in rows]
        chosen.append((session_id, created_at, seen, edits, upto))
        left -= upto - seen
        if left <= 0:
            break
    return chosen, texts


def apply_digest(
    db: Db, user_id: str, sessions: list[tuple[Any, ...]], masks: dict[int, bytes]
) -> int:
    """Add to the user's digest: move each session's ``digested_seq`` to its ``upto`` where
    it is still as read, then, if any moved, OR ``masks`` (parts by number) into the stored
    parts and mark the digest as there. Return how many sessions moved."""
    moved = 0
    for session_id, created_at, seen, edits, upto in sessions:
        moved += db.run(
            _MOVE,
            user_id=user_id,
            session_id=session_id,
            created_at=created_at,
            seen=seen,
            edits=edits,
            upto=upto,
        )
    if not moved:
        return 0
    stored = {part: bytes(bits) for part, bits in db.binary_tuples(_STORED, user_id=user_id)}
    for part, mask in {digest.HEAD: digest.FORMAT, **masks}.items():
        old = stored.get(part)
        if old is None:
            db.run(_INSERT_PART, user_id=user_id, part=part, bits=mask)
            continue
        new = digest.merged(old, mask)
        if new != old:
            db.run(_UPDATE_PART, key_user=user_id, key_part=part, new_bits=new)
    return moved


def delete_digest(db: Db, user_id: str) -> None:
    """Delete the user's digest (every part)."""
    db.run(_DELETE, user_id=user_id)
