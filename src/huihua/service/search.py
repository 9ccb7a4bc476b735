"""Finding a message by its words: /search_chats (docs/api.md §5.3).

A substring match, so that a one- or two-character Chinese query finds its messages:
letters A–Z match either case, every other character (``%``, ``_`` and ``\\`` included)
only itself. The store hands over, newest first, the user's ``user`` and ``ai`` messages
that may contain the query (store/search/, whose docstring draws what it reads); each is
matched again here (a regular expression of the escaped query, ASCII-only case folding),
which places the snippet and drops those that do not, and the page ends at ``limit``
results, or earlier at the reply cap of §3. One match beyond the page is asked for, so that
``next_cursor`` is ``""`` exactly when nothing is left.

A search that read to the end finds out how much is not digested yet; past ``digest_from``
(then :data:`EXTEND_FROM`) messages, it adds up to :data:`DIGEST_MOST` of them to the
digest after its read (texts and bits read off the event loop, then one short write),
before it replies. A digest that fails to be made costs its search nothing.

``snippet`` is ``[before, match, after]``, cut from ``msg`` around its first match: at most
:data:`SNIPPET_MAX` characters in all, ``…`` (counted) where text was cut, the room beyond
the match shared between the two sides.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec

from huihua import timestamps
from huihua.errors import NotFound
from huihua.service.chats import SESSION_NOT_FOUND
from huihua.service.users import USER_NOT_FOUND
from huihua.store import Store, search
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.cursor import encode_search_cursor
from huihua.wire.replies import SearchChatsReply, SearchResult
from huihua.wire.rules import SNIPPET_MAX

# A digest, once made, takes what was written since when this many messages wait (or
# ``digest_from``, if fewer); each search adds at most DIGEST_MOST messages to it.
EXTEND_FROM = 256
DIGEST_MOST = 2_000
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
    waiting = 0  # messages not in the digest, when the search read them all

    def read(db: Db) -> tuple[list[SearchResult], Any]:
        nonlocal waiting
        found_rows = search.candidates(db, user_id, query, limit, after, session_id)
        results: list[SearchResult] = []
        last: Any = None  # the key of the last result
        size = base
        for at, sid, seq, role, msg, title in found_rows.rows:
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
        least = min(digest_from, EXTEND_FROM) if found_rows.digested else digest_from
        waiting = search.undigested(db, user_id)
        if waiting < max(least, 1):
            waiting = 0
        if not results and after is None:
            # (a digest is of a user who exists: /delete_user deletes it with them)
            if not found_rows.digested and not q.user_exists(db, user_id):
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
    (store/search/rows.py says what it checks). Return how many sessions it moved; a
    failure is logged, never raised: the search it follows has its answer."""
    try:
        made = await store.read(lambda db: search.gather(db, user_id, most), long=True)
        if not made.gathered.sessions:
            return 0
        return await store.write(lambda db: search.extend(db, user_id, made))
    except search.DigestRaced:  # a session changed meanwhile: the next search tries again
        return 0
    except Exception:  # the search was answered; the next one may digest
        _log.warning("search digest of a user not made", exc_info=True)
        return 0
