"""Search: the messages of a user that may contain a query (docs/api.md §5.3).

:func:`candidates` is the one entry point: it hands over, newest first, the user's ``user``
and ``ai`` messages that contain the query (on MySQL/MariaDB a few more); the service
matches each exactly, cuts snippets and pages. What it reads, and what is written for it::

    written with a message     nothing but its entry in ix_chat_messages_newest
                               (user_id, created_at, session_id, seq): the walk's order

    made by searches, per user (rows of search_digests, off the requests that wrote):
      head (part -1)           the format, and the next free position
      parts 0 … 7              every UTF-16 unit the digested messages hold, exactly
      parts 8 … 263            their pairs of adjacent units: a 2 Mibit Bloom filter
      directory of block b     runs (session, first seq, first position, count): which
                               message each of the block's 8,192 positions is
      slice (b, i)             which of block b's positions have bit i of their
                               signature (signature.py: 1,024 bits of units and pairs)
    per session                digested_seq: what of it the digest holds (its tail is
                               the rest); search_edits: changes of its messages' text

    a query reads
      1. the head, and the parts of its units and pairs          one statement
           no digest                 → the walk
           a unit or a pair missing  → only the tails            one statement
      2. the slices of up to 24 bits of its signature, and the directories
           ≤ 256 survivors           → those by key, and the tails' matches, sorted
           more (a common query)     → the walk, where its page fills soon

The walk (walk.py) reads the user's messages newest first and tests each text: it stops
where its page fills, so a common query costs a few dozen to a few hundred rows (the
bench's 1-, 2- and 5-character hits: 51, 348 and 579 of 10,000), but a query that matches
little would read the whole history, which the digest is there to avoid: a miss reads a few
digest rows and the tails, a rare word its survivors by key. The digest is made and
extended after a search that found more than ``digest_from`` messages not in it
(service/search.py), at most 2,000 messages at a time: their texts read and their bits made
on a thread, then one short write (rows.py). Any deletion deletes the user's digest (it
holds something of every message it took); /update_chat lowers its session's
``digested_seq``. What each structure is worth, dropped in turn, is measured in
bench/README.md ("Search").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from huihua.store.search import digest, slices
from huihua.store.search.keyed import messages_by_keys
from huihua.store.search.rows import (
    DigestRaced,
    Gathered,
    apply_digest,
    delete_digest,
    digest_parts,
    gather_digest,
    undigested,
)
from huihua.store.search.walk import CANDIDATE_FIELDS, Candidate, search_candidates
from huihua.store.sql import Db

__all__ = [
    "CANDIDATE_FIELDS",
    "Candidate",
    "DigestRaced",
    "Found",
    "Gather",
    "candidates",
    "delete_digest",
    "extend",
    "gather",
    "undigested",
]

# A page asks for its results and one more; should some not match (MySQL/MariaDB's
# folding), the next batches ask for twice as many each time, up to BATCH_MAX.
BATCH_MAX = 512
TAILS_MOST = 1_000_000  # a search by the digest's slices reads every candidate of the tails
Position = tuple[int, str, int]  # (created_at, session_id, seq): newest first, descending


class Found(NamedTuple):
    """What :func:`candidates` found: the rows (tuples of CANDIDATE_FIELDS), newest first,
    and whether the user has a digest (none: the user may not exist)."""

    rows: Iterable[Candidate]
    digested: bool


def candidates(
    db: Db,
    user_id: str,
    query: str,
    limit: int,
    after: Position | None,
    session_id: str | None,
) -> Found:
    """Return the user's messages that may contain ``query`` (of one session, when given),
    newest first after the keyset position ``after``: read as the module docstring draws,
    a batch at a time (``limit`` and one more first)."""
    wanted = digest.query_positions(query)
    parts = digest_parts(db, user_id, sorted(wanted))
    if parts is None:  # no digest: the walk
        return Found(_walk(db, user_id, query, limit, after, session_id, tails=False), False)
    if not digest.may_contain(parts, wanted):  # only what it does not hold yet
        return Found(_walk(db, user_id, query, limit, after, session_id, tails=True), True)
    keys = _survivors(db, user_id, query, parts[digest.HEAD])
    if keys is None:  # too many: a page fills soon on the walk
        return Found(_walk(db, user_id, query, limit, after, session_id, tails=False), True)
    return Found(_keyed(db, user_id, query, keys, after, session_id), True)


def _walk(
    db: Db,
    user_id: str,
    query: str,
    limit: int,
    after: Position | None,
    session_id: str | None,
    *,
    tails: bool,
) -> Iterator[Candidate]:
    """The store's candidates, newest first, batch after batch (``tails``: only the
    messages the digest does not hold)."""
    position = after
    batch = limit + 1
    while True:
        rows = search_candidates(db, user_id, query, batch, position, session_id, tails=tails)
        for row in rows:
            position = _key(row)
            yield row
        if len(rows) < batch:
            return
        batch = min(batch * 2, BATCH_MAX)


def _survivors(db: Db, user_id: str, query: str, head: bytes) -> list[tuple[str, int]] | None:
    """The keys of the digested messages whose signatures have the query's bits (slices.py);
    None: too many, or nothing to test them by."""
    bits = slices.query_bits(query)
    if not bits or head[:1] != slices.FORMAT:
        return None
    count = slices.blocks(head)
    if not count:
        return []
    bits = slices.bits_to_read(bits, count)
    wanted = slices.parts_to_read(bits, count)
    parts = digest_parts(db, user_id, wanted, head=False)
    found = slices.survivors(parts, bits, count)
    return None if found is None else sorted(slices.keys(found, parts))


def _key(row: Candidate) -> Position:
    """A candidate's key, (created_at, session_id, seq): the order of a search, reversed."""
    return (row[0], row[1], row[2])


def _keyed(
    db: Db,
    user_id: str,
    query: str,
    keys: list[tuple[str, int]],
    after: Position | None,
    session_id: str | None,
) -> list[Candidate]:
    """The surviving digested messages and the tails' candidates, newest first, after the
    keyset position: each message once (one the digest holds may be in a tail as well)."""
    if session_id is not None:
        keys = [key for key in keys if key[0] == session_id]
    rows = {(row[1], row[2]): row for row in messages_by_keys(db, user_id, keys)}
    tails = search_candidates(db, user_id, query, TAILS_MOST, after, session_id, tails=True)
    rows.update(((row[1], row[2]), row) for row in tails)
    found = sorted(rows.values(), key=_key, reverse=True)
    return [row for row in found if after is None or _key(row) < after]


class Gather(NamedTuple):
    """What :func:`gather` read for the user's digest, and the bits it made of it."""

    gathered: Gathered
    masks: dict[int, bytes]
    sliced: dict[int, int]


def gather(db: Db, user_id: str, most: int) -> Gather:
    """Read up to ``most`` of the user's undigested messages and make their bits (units and
    pairs, slices): the first step of extending a digest, meant for a thread. The second is
    :func:`extend` in a write."""
    gathered = gather_digest(db, user_id, most)
    return Gather(gathered, digest.masks(gathered.texts), slices.transpose(gathered.placed))


def extend(db: Db, user_id: str, made: Gather) -> int:
    """Add what :func:`gather` made to the user's digest; return how many sessions moved
    (DigestRaced, nothing written, when one changed meanwhile)."""
    return apply_digest(db, user_id, made.gathered, made.masks, made.sliced)
