"""Reading a session: a page of its messages, backwards or forwards, within the reply cap.

docs/api.md §3 and §5.3: the newest ``limit`` messages below ``before_seq`` (or the oldest above
``after_seq``), oldest first in the reply, cut so that the reply stays within
``max_reply_bytes``. The rows are read in batches, each message sized as it is added, so a
session of 1,000 messages of 64 K characters never becomes a reply (or a list of rows) of
hundreds of megabytes: the read stops at the first message that does not fit. A page always
holds one message.

Sizing is cheap until it matters: a batch is added whole while a bound of its JSON (six
bytes per character of its texts) keeps the reply under the cap; past that, the messages
kept so far are encoded once and each further one exactly. The store packs a message's
fields beyond the seed's into one JSON array (``extras``), NULL for most messages. The
first batch is small where reads run side by side (see FIRST_BATCH); the next ones hold as
many rows as the cap may still take, by the mean size of those read.

A ``streaming`` reply whose last change is older than ``streaming_timeout`` reads as
``failed`` (docs/api.md §5.1): its back end died mid-reply.
"""

from __future__ import annotations

import operator
from typing import Any

import msgspec

from huihua import timestamps
from huihua.errors import NotFound
from huihua.service.chats import SESSION_NOT_FOUND
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.replies import ChatOut, SessionInfoReply

# Rows read first. On SQLite, whose short reads run one after another, a page of up to 63
# messages costs one statement. On a server store, reads run side by side on threads: 16
# rows of 65,536 four-byte characters are 8 MiB as the driver's and Python's copies, so four
# reads at once stay within 32 MiB (64 rows took 129 MiB: bench/reply_cap.py).
FIRST_BATCH_SERIAL, FIRST_BATCH = 64, 16
BATCH_MAX = 1_000
_MSG, _META, _EXTRAS = operator.itemgetter(1), operator.itemgetter(4), operator.itemgetter(5)
_PER_MESSAGE = 400  # bytes, at most: a message's keys, seq, times and status
_Text = str | None
_decode_extras = msgspec.json.Decoder(
    tuple[_Text, _Text, _Text, _Text, _Text, _Text, int | None, _Text, _Text]
).decode
_encode = msgspec.json.Encoder().encode
_rfc3339 = timestamps.rfc3339
# rfc3339 inlined in the page's comprehension, one call a row less (read 384,561 ->
# 383,337 instructions)
_second, _seconds, _millis = timestamps.second, timestamps.SECONDS.get, timestamps.MILLIS
_raw = msgspec.Raw


class PageAsk(msgspec.Struct, frozen=True):
    """Which page: ``limit`` messages below ``before_seq`` or above ``after_seq``."""

    limit: int
    before_seq: int | None = None
    after_seq: int | None = None


class _Page:
    """The messages of a reply being built, and the reply's size so far: a bound while
    the page is far from the cap, exact once it comes near."""

    __slots__ = ("base", "cap", "chats", "exact", "size")

    def __init__(self, cap: int, base: int) -> None:
        self.cap = cap
        self.base = base  # the reply with no message in it ("chats":[])
        self.size = base
        self.exact = False
        self.chats: list[ChatOut] = []

    def take(self, rows: list[Any], now: int, timeout_ms: int) -> bool:
        """Add the messages of ``rows`` in order while the reply stays within the cap (the
        first one always); return whether every one was added.

        A message's JSON is at most six bytes per character of its texts, plus its keys,
        seq and times: while the batch's bound fits, it is converted in one comprehension
        and not measured (the usual page); else message by message, exactly.
        """
        if not self.exact:
            texts = sum(map(len, map(_MSG, rows)))
            texts += sum(map(len, filter(None, map(_META, rows))))
            texts += sum(map(len, filter(None, map(_EXTRAS, rows))))
            bound = 6 * texts + _PER_MESSAGE * len(rows)
            if self.size + bound <= self.cap:
                self.size += bound
                self.chats += [
                    ChatOut(
                        r[0],
                        r[1],
                        r[2],
                        (_seconds(s := r[3] // 1000) or _second(s)) + _millis[r[3] % 1000],
                        # Raw takes the text itself, encoded only as the reply is: one
                        # call a row less (read 377,894 -> 375,884 instructions)
                        None if r[4] is None else _raw(r[4]),
                    )
                    if r[5] is None
                    else chat_out(r, now, timeout_ms)
                    for r in rows
                ]
                return True
            self.exact = True
            self.size = self.base - 2 + len(_encode(self.chats))
        for row in rows:
            chat = chat_out(row, now, timeout_ms)
            size = self.size + len(_encode(chat)) + (1 if self.chats else 0)
            if size > self.cap and self.chats:
                return False
            self.size = size
            self.chats.append(chat)
        return True


def chat_out(row: Any, now: int, timeout_ms: int) -> ChatOut:
    """Return a stored message (a row of ``q.PAGE_FIELDS``) as read."""
    role, msg, seq, at, meta, extras = row
    meta_raw = None if meta is None else _raw(meta.encode())
    if extras is None:
        return ChatOut(role, msg, seq, _rfc3339(at), meta_raw)
    parts, reasoning, calls, call_id, name, status, updated, rating, comment = _decode_extras(
        extras
    )
    if status == "streaming" and now - (updated or at) > timeout_ms:
        status = "failed"
    return ChatOut(
        role,
        msg,
        seq,
        _rfc3339(at),
        meta_raw,
        None if parts is None else _raw(parts.encode()),
        reasoning or "",
        None if calls is None else _raw(calls.encode()),
        call_id or "",
        name or "",
        status or "complete",
        "" if updated is None else _rfc3339(updated),
        rating or "",
        comment or "",
    )


async def query_session_info(
    store: Store,
    request_id: str,
    user_id: str,
    session_id: str,
    ask: PageAsk,
    *,
    max_reply_bytes: int,
    streaming_timeout_ms: int,
) -> SessionInfoReply:
    """Return a page of a session's messages, oldest first, within ``max_reply_bytes``."""
    forward = ask.after_seq is not None
    first_batch = FIRST_BATCH_SERIAL if store.reads_one_at_a_time else FIRST_BATCH
    reply = SessionInfoReply(request_id=request_id, user_id=user_id, session_id=session_id)

    def read(db: Db) -> tuple[str | None, list[ChatOut], bool] | None:
        now = timestamps.now_ms()
        want = ask.limit + 1  # one more than the page: whether more exist
        batch = min(want, first_batch)
        found = q.session_messages(db, user_id, session_id, batch, ask.before_seq, ask.after_seq)
        if found is None:
            return None
        title, rows = found
        base = len(_encode(reply)) + len(_encode(title or ""))
        page = _Page(max_reply_bytes, base)
        fetched = 0
        while True:
            fetched += len(rows)
            room = ask.limit - len(page.chats)  # rows beyond the page say only "more"
            if not page.take(rows[:room], now, streaming_timeout_ms) or len(rows) > room:
                return title, page.chats, True
            if len(rows) < batch or fetched >= want:
                return title, page.chats, False
            # The next batch: as many rows as the cap may still take, by their mean size.
            mean = max(1, (page.size - base) // max(1, len(page.chats)))
            batch = max(1, min(want - fetched, BATCH_MAX, (page.cap - page.size) // mean + 1))
            last = rows[-1][2]
            rows = q.messages_page(
                db,
                user_id,
                session_id,
                batch,
                before_seq=None if forward else last,
                after_seq=last if forward else None,
            )

    found = await store.read(read)
    if found is None:
        raise NotFound(SESSION_NOT_FOUND)
    title, chats, more = found
    if not forward:
        chats.reverse()
    reply.session_title = title or ""
    reply.chats = chats
    reply.has_more = more
    return reply
