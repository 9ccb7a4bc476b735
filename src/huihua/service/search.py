"""Finding a message by its words: /search_chats (docs/api.md §5.3).

A substring match, so that a one- or two-character Chinese query finds its messages:
letters A–Z match either case, every other character (``%``, ``_`` and ``\\`` included)
only itself. The store hands over, newest first, the user's ``user`` and ``ai`` messages
that contain the query (store/queries/search.py; on MySQL/MariaDB a few more); each is
matched again here (a regular expression of the escaped query, ASCII-only case folding),
which places the snippet and drops those few, and the page ends at ``limit`` results, or
earlier at the reply cap of §3. One match beyond the page is asked for, so that
``next_cursor`` is ``""`` exactly when nothing is left.

Where the candidates come from: a search first reads the parts of the user's search digest
(store/digest.py) that the query needs. With no digest, the walk of the user's index
(one statement a page). When the digest shows that none of the messages it holds can
contain the query, only those it does not hold yet (each session's tail). A query of one
or two characters it lets through (nearly always a hit), the walk. Otherwise, on SQLite
(``walks_a_window``), the walk of the user's :data:`WINDOW` newest messages first, where a
common word fills its page in one statement; then the slices of the query's signature bits
(store/slices.py) name the few digested messages that may contain it, read by key with
the tails' candidates, sorted here; or, when more than
:data:`~huihua.store.slices.CANDIDATES_MOST` survive (a common word), the walk, whose page
fills at once. So a query that matches nothing, or a few old messages, costs a few rows
rather than a walk of the user's whole history.

A search that read to the end finds out how much is not digested yet; past ``digest_from``
(then :data:`EXTEND_FROM`) messages, it adds up to :data:`DIGEST_MOST` of them to the
digest after its read (texts and bits read off the event loop, then one short write),
before it replies. A digest that fails to be made costs its search nothing.

``snippet`` is ``[before, match, after]``, cut from ``msg`` around its first match: at most
:data:`SNIPPET_MAX` characters in all, ``…`` (counted) where text was cut, the room beyond
the match shared between the two sides.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from huihua import timestamps
from huihua.errors import NotFound
from huihua.service.chats import SESSION_NOT_FOUND
from huihua.service.users import USER_NOT_FOUND
from huihua.store import Store, digest, slices
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.cursor import encode_search_cursor
from huihua.wire.replies import SearchChatsReply, SearchResult
from huihua.wire.rules import SNIPPET_MAX

# A page asks for its results and one more; should some not match (MySQL/MariaDB's
# folding), the next batches ask for twice as many each time, up to BATCH_MAX.
BATCH_MAX = 512
# A digest, once made, takes what was written since when this many messages wait (or
# ``digest_from``, if fewer); each search adds at most DIGEST_MOST messages to it.
EXTEND_FROM = 256
DIGEST_MOST = 2_000
WINDOW = 1_024  # the newest index entries a query the digest lets through is first sought in
TAILS_MOST = 1_000_000  # a search by the digest's slices reads every candidate of the tails
_log = logging.getLogger("huihua.search")
_encode = msgspec.json.Encoder().encode
_rfc3339 = timestamps.rfc3339
ELLIPSIS = "…"


def matcher(query: str) -> re.Pattern[str]:
    """Return the pattern that finds ``query`` as §5.3 says: A–Z either case, nothing else
    folded."""
    return re.compile(re.escape(query), re.IGNORECASE | re.ASCII)


def snippet(msg: str, start: int, end: int) -> list[str]:
    """Return ``[before, match, after]`` around ``msg[start:end]``, at most SNIPPET_MAX
    characters in all, with ``…`` where text was cut."""
    match = msg[start:end]
    room = max(0, SNIPPET_MAX - len(match))
    before, after = msg[:start], msg[end:]
    # Each side may take half the room, and what the other side leaves unused.
    before_room = max(room // 2, room - len(after))
    if len(before) > before_room:
        before = ELLIPSIS + before[len(before) - before_room + 1 :] if before_room else ""
    after_room = room - len(before)
    if len(after) > after_room:
        after = after[: after_room - 1] + ELLIPSIS if after_room else ""
    return [before, match, after]


def _walk(
    db: Db,
    user_id: str,
    query: str,
    limit: int,
    after: tuple[int, str, int] | None,
    session_id: str | None,
    *,
    tails: bool,
) -> Iterator[Any]:
    """The store's candidates, newest first, batch after batch (``tails``: only the
    messages the digest does not hold)."""
    position = after
    batch = limit + 1
    while True:
        rows = q.search_candidates(db, user_id, query, batch, position, session_id, tails=tails)
        for row in rows:
            position = _newest_first(row)
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
    parts = q.digest_parts(db, user_id, wanted, head=False)
    found = slices.survivors(parts, bits, count)
    return None if found is None else sorted(slices.keys(found, parts))


def _newest_first(row: Any) -> tuple[int, str, int]:
    """A candidate's key, (created_at, session_id, seq): the order of a search, reversed."""
    return (row[0], row[1], row[2])


def _keyed(
    db: Db,
    user_id: str,
    query: str,
    keys: list[tuple[str, int]],
    after: tuple[int, str, int] | None,
    session_id: str | None,
) -> list[Any]:
    """The surviving digested messages and the tails' candidates, newest first, after the
    keyset position: each message once (one the digest holds may be in a tail as well)."""
    if session_id is not None:
        keys = [key for key in keys if key[0] == session_id]
    rows = {(row[1], row[2]): row for row in q.messages_by_keys(db, user_id, keys)}
    tails = q.search_candidates(db, user_id, query, TAILS_MOST, after, session_id, tails=True)
    rows.update(((row[1], row[2]), row) for row in tails)
    found = sorted(rows.values(), key=_newest_first, reverse=True)
    return [row for row in found if after is None or _newest_first(row) < after]


async def search_chats(
    store: Store,
    request_id: str,
    user_id: str,
    query: str,
    limit: int,
    after: tuple[int, str, int] | None,
    session_id: str | None,
    *,
    max_reply_bytes: int,
    digest_from: int = 0,
) -> SearchChatsReply:
    """Return a page of the user's messages that contain ``query``, newest first; past
    ``digest_from`` undigested messages, add them to the user's search digest."""
    pattern = matcher(query)
    reply = SearchChatsReply(request_id=request_id)
    base = len(_encode(reply)) + 64  # and a cursor
    wanted = digest.query_positions(query)
    waiting = 0  # messages not in the digest, when the search read them all

    def candidates(db: Db, parts: dict[int, bytes] | None) -> Iterable[Any]:
        """The rows that may match, newest first: by the walk, or as the digest says."""
        if parts is None:  # no digest: the walk
            return _walk(db, user_id, query, limit, after, session_id, tails=False)
        if not digest.may_contain(parts, wanted):  # only what it does not hold yet
            return _walk(db, user_id, query, limit, after, session_id, tails=True)
        if digest.answers_alone(query):
            # One or two units the user has written (exactly), and their pair: a hit but
            # for a pair the filter mistook (3%) or text since changed: the walk.
            return _walk(db, user_id, query, limit, after, session_id, tails=False)
        if db.caps.walks_a_window:
            # A common word fills its page among the newest messages: one short statement.
            newest = q.search_candidates(
                db, user_id, query, limit + 1, after, session_id, window=WINDOW
            )
            if len(newest) > limit:
                rest = _walk(
                    db, user_id, query, limit, _newest_first(newest[-1]), session_id, tails=False
                )
                return itertools.chain(newest, rest)  # (the rest only if some did not match)
        keys = _survivors(db, user_id, query, parts[digest.HEAD])
        if keys is None:  # too many: a page fills soon on the walk
            return _walk(db, user_id, query, limit, after, session_id, tails=False)
        return _keyed(db, user_id, query, keys, after, session_id)

    def read(db: Db) -> tuple[list[SearchResult], Any]:
        nonlocal waiting
        parts = q.digest_parts(db, user_id, sorted(wanted))
        results: list[SearchResult] = []
        last: Any = None  # the key of the last result
        size = base
        for at, sid, seq, role, msg, title in candidates(db, parts):
            found = pattern.search(msg)
            if found is None:
                continue
            if len(results) == limit:
                return results, last
            result = SearchResult(
                sid,
                title or "",
                seq,
                role,
                msg,
                snippet(msg, found.start(), found.end()),
                _rfc3339(at),
            )
            size += len(_encode(result)) + 1
            if results and size > max_reply_bytes:
                return results, last
            results.append(result)
            last = (at, sid, seq)
        least = digest_from if parts is None else min(digest_from, EXTEND_FROM)
        waiting = q.undigested(db, user_id)
        if waiting < max(least, 1):
            waiting = 0
        if not results and after is None:
            # (a digest is of a user who exists: /delete_user deletes it with them)
            if parts is None and not q.user_exists(db, user_id):
                raise NotFound(USER_NOT_FOUND)
            if session_id is not None and not q.session_exists(db, user_id, session_id):
                raise NotFound(SESSION_NOT_FOUND)
        return results, None

    results, more_after = await store.read(read, long=True)
    if waiting:
        await add_to_digest(store, user_id)
    reply.results = results
    if more_after is not None:
        reply.next_cursor = encode_search_cursor(*more_after)
    return reply


async def add_to_digest(store: Store, user_id: str, most: int = DIGEST_MOST) -> int:
    """Add up to ``most`` of the user's undigested messages to their search digest: read
    their texts and make their bits off the event loop, then apply them in one short write
    (queries/digests.py says what it checks). Return how many sessions it moved; a failure
    is logged, never raised: the search it follows has its answer."""

    def gather(db: Db) -> tuple[q.Gathered, dict[int, bytes], dict[int, int]]:
        gathered = q.gather_digest(db, user_id, most)
        return gathered, digest.masks(gathered.texts), slices.transpose(gathered.placed)

    try:
        gathered, masks, sliced = await store.read(gather, long=True)
        if not gathered.sessions:
            return 0
        return await store.write(lambda db: q.apply_digest(db, user_id, gathered, masks, sliced))
    except q.DigestRaced:  # a session changed meanwhile: the next search tries again
        return 0
    except Exception:  # the search was answered; the next one may digest
        _log.warning("search digest of a user not made", exc_info=True)
        return 0
