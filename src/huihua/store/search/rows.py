"""A user's search digest as rows of ``search_digests`` (digest.py, slices.py): reading the
parts a query needs, what is left to digest, adding messages to the digest, deleting it.

A digest is added to in two steps: the texts of the messages above each session's
``digested_seq`` are read (and their bits computed) in a read transaction, then one short
write applies them (:func:`apply_digest`). Between the two, a session may have changed; the
write moves each session's ``digested_seq`` only if the session is the one that was read
(its ``created_at``, ``digested_seq`` and ``search_edits`` as read: /update_chat and
/delete_chat count an edit in ``search_edits``), and writes nothing at all, rolled back,
when one is not (:class:`DigestRaced`): the next search tries again.

Locks are taken in the order sessions, then the digest's rows, as every deletion takes them
(sessions, then the digest), so neither can deadlock the other. A deletion deletes the
digest, and counts an edit or deletes the session: a digest made meanwhile claims nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import BindParameter

from huihua.errors import Conflict
from huihua.store.queries._common import insert_row, matches, padded
from huihua.store.search import digest, signature, slices
from huihua.store.search.walk import searched
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
# The searched messages (user and ai) of a range of seqs.
_TEXTS = Statement(
    select(_m.seq, _m.msg).where(
        matches(_m.user_id),
        matches(_m.session_id),
        _m.seq > bindparam("after"),
        _m.seq <= bindparam("upto"),
        searched(_m),
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
_HEAD = Statement(
    select(_d.bits).where(matches(_d.user_id), _d.part == digest.HEAD).with_for_update()
)
_RANGE = Statement(
    select(_d.part, _d.bits)
    .where(matches(_d.user_id), _d.part.between(bindparam("first"), bindparam("last")))
    .with_for_update()
)
_INSERT_PART = insert_row(search_digests)
_UPDATE_PART = Statement(
    update(search_digests)
    .where(and_(_d.user_id == bindparam("key_user"), _d.part == bindparam("key_part")))
    .values(bits=bindparam("new_bits"))
)
_DELETE = Statement(delete(search_digests).where(matches(_d.user_id)))
_FORGET = Statement(
    update(chat_sessions)
    .where(matches(_s.user_id), _s.digested_seq > literal_column("0"))
    .values(digested_seq=literal_column("0"))
)


def _parts_array() -> Statement:
    # Each part by the whole primary key, one lookup a part, whatever the statistics say
    # (with those of a table that grew since, PostgreSQL read all the user's parts).
    wanted = (
        func.unnest(bindparam("parts", type_=ARRAY(Integer)))
        .table_valued("part")
        .render_derived(name="wanted")
    )
    found = (
        select(_d.bits)
        .where(_d.user_id == bindparam("user_id"), _d.part == wanted.c.part)
        .offset(literal_column("0"))
        .lateral("found")
    )
    return Statement(select(wanted.c.part, found.c.bits).select_from(wanted.join(found, true())))


_PARTS_ARRAY = _parts_array()


def _parts_statement(n: int) -> Statement:
    statement = _PARTS.get(n)
    if statement is None:
        wanted: list[BindParameter[Any]] = [bindparam(f"part_{i}") for i in range(n)]
        statement = _PARTS[n] = Statement(
            select(_d.part, _d.bits).where(matches(_d.user_id), _d.part.in_(wanted))
        )
    return statement


def digest_parts(db: Db, user_id: str, parts: list[int], *, head: bool = True) -> Any:
    """Return the user's digest parts of these numbers by number (an absent part is all
    zeros), or None: the user has no digest (``head``: its head part is read and needed)."""
    wanted = [digest.HEAD, *parts] if head else list(parts)
    if db.caps.binds_arrays:
        rows = db.binary_tuples(_PARTS_ARRAY, user_id=user_id, parts=wanted)
    else:
        wanted = padded(wanted)
        params: dict[str, Any] = {f"part_{i}": part for i, part in enumerate(wanted)}
        rows = db.binary_tuples(_parts_statement(len(wanted)), user_id=user_id, **params)
    found = {part: bytes(bits) for part, bits in rows}
    if head and digest.HEAD not in found:
        return None
    return found


def undigested(db: Db, user_id: str) -> int:
    """Return how many seqs of the user's sessions lie above what the digest holds (the
    messages a digest would add, and those deleted since: an upper bound)."""
    return int(db.scalar(_UNDIGESTED, user_id=user_id) or 0)


class Gathered(NamedTuple):
    """What :func:`gather_digest` read: the sessions, each (session_id, created_at,
    digested_seq, search_edits, upto, first local position), how many local positions they
    take, the texts of their searched messages, and each one's (local position, signature)."""

    sessions: list[tuple[Any, ...]]
    positions: int
    texts: list[str]
    placed: list[tuple[int, list[int]]]


def gather_digest(db: Db, user_id: str, most: int) -> Gathered:
    """Read what to add to the user's digest next, at most ``most`` seqs: the searched
    messages above each session's ``digested_seq``, up to ``upto``."""
    gathered = Gathered([], 0, [], [])
    left = most
    for session_id, created_at, seen, last, edits in db.tuples(_TAILS, user_id=user_id):
        upto = min(last, seen + left)
        first = gathered.positions
        rows = db.tuples(_TEXTS, user_id=user_id, session_id=session_id, after=seen, upto=upto)
        for seq, msg in rows:
            gathered.texts.append(msg)
            gathered.placed.append((first + seq - seen - 1, signature.signature(msg)))
        gathered.sessions.append((session_id, created_at, seen, edits, upto, first))
        gathered = gathered._replace(positions=first + upto - seen)
        left -= upto - seen
        if left <= 0:
            break
    return gathered


def _stored_range(db: Db, user_id: str, first: int, last: int) -> dict[int, bytes]:
    rows = db.binary_tuples(_RANGE, user_id=user_id, first=first, last=last)
    return {part: bytes(bits) for part, bits in rows}


class DigestRaced(Conflict):
    """A session changed between the digest's read and its write: nothing is written (not
    even the bits of what did not change: none of what was read may outlive a deletion)."""


def apply_digest(
    db: Db,
    user_id: str,
    gathered: Gathered,
    masks: dict[int, bytes],
    sliced: dict[int, int],
) -> int:
    """Add to the user's digest what :func:`gather_digest` read: move each session's
    ``digested_seq`` to its ``upto``, each still as read (else DigestRaced); then OR
    ``masks`` (digest.py's parts) into the stored ones, place ``sliced`` (slices.py, by
    bit, from local position 0) at the next free position with the sessions' runs, and
    move the head. Return how many sessions moved."""
    moved = []
    for session_id, created_at, seen, edits, upto, first in gathered.sessions:
        params = {"user_id": user_id, "session_id": session_id, "created_at": created_at}
        if not db.run(_MOVE, seen=seen, edits=edits, upto=upto, **params):
            raise DigestRaced(f"search digest: session {session_id!r} changed while read")
        moved.append((session_id, seen + 1, first, upto - seen))
    head = db.binary_tuples(_HEAD, user_id=user_id)
    base = slices.next_position(bytes(head[0][0])) if head else 0
    end = base + gathered.positions
    new: dict[int, bytes] = {}
    stored = _stored_range(db, user_id, 0, digest.PARTS - 1)
    for part, mask in masks.items():
        new[part] = digest.merged(stored.get(part, b""), mask)
    if gathered.positions:
        blocks = (base // slices.BLOCK, (end - 1) // slices.BLOCK)
        directories = _stored_range(db, user_id, *map(slices.directory_part, blocks))
        stored |= directories
        runs: dict[int, list[slices.Run]] = {}
        for session_id, first_seq, first, count in moved:
            for block, run in slices.runs_by_block(session_id, first_seq, base + first, count):
                part = slices.directory_part(block)
                runs.setdefault(part, slices.decode_runs(directories.get(part))).append(run)
        for part, part_runs in runs.items():
            new[part] = slices.encode_runs(part_runs)
        first_slice = slices.slice_part(blocks[0], 0)
        last_slice = slices.slice_part(blocks[1], slices.BITS - 1)
        stored |= _stored_range(db, user_id, first_slice, last_slice)
        for part, value in slices.placed_at(sliced, base).items():
            new[part] = slices.as_bytes(slices.as_int(stored.get(part)) | value)
    new[digest.HEAD] = slices.head(end)
    if head:
        stored[digest.HEAD] = bytes(head[0][0])
    for part, bits in new.items():
        old = stored.get(part)
        if old is None:
            db.run(_INSERT_PART, user_id=user_id, part=part, bits=bits)
        elif bits != old:
            db.run(_UPDATE_PART, key_user=user_id, key_part=part, new_bits=bits)
    return len(moved)


def delete_digest(db: Db, user_id: str) -> None:
    """Delete the user's digest (every part), and what each session says it holds."""
    db.run(_FORGET, user_id=user_id)
    db.run(_DELETE, user_id=user_id)
