"""Reading a session: a page of its messages, backwards or forwards, within the reply cap.

API.md §3 and §5.3: the newest ``limit`` messages below ``before_seq`` (or the oldest above
``after_seq``), oldest first in the reply, cut so that the reply stays within
``max_reply_bytes``. The rows are read in batches, each message sized as it is added, so a
session of 1,000 messages of 64 K characters never becomes a reply (or a list of rows) of
hundreds of megabytes: the read stops at the first message that does not fit. A page always
holds one message.

Sizing is cheap until it matters: a bound of each message's JSON (six bytes per character
of text, the stored JSON as it is) is summed while it stays under the cap; past that, the
messages kept so far are encoded once and each further one exactly. The first batch is
small where reads run side by side (see FIRST_BATCH); the next ones hold as many rows as
the cap may still take, by the mean size of those read.

A ``streaming`` reply whose last change is older than ``streaming_timeout`` reads as
``failed`` (API.md §5.1): its back end died mid-reply.
"""

from __future__ import annotations

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
_CHAT_OVERHEAD = 400  # bytes: a message's keys, seq, times and status, generously
_NO_EXTRA = (None,) * (len(q.MESSAGE_FIELDS) - 5)
_encode = msgspec.json.Encoder().encode
_rfc3339 = timestamps.rfc3339
_raw = msgspec.Raw


class PageAsk(msgspec.Struct, frozen=True):
    """Which page: ``limit`` messages below ``before_seq`` or above ``after_seq``."""

    limit: int
    before_seq: int | None = None
    after_seq: int | None = None


class _Page:
    """The messages of a reply being built, and the reply's size so far (or a bound)."""

    __slots__ = ("base", "cap", "chats", "exact", "size")

    def __init__(self, cap: int, base: int) -> None:
        self.cap = cap
        self.base = base  # the reply with no message in it
        self.size = base
        self.exact = False
        self.chats: list[ChatOut] = []

    def add(self, chat: ChatOut, bound: int) -> bool:
        """Add ``chat`` if the reply stays within the cap (``bound``: its size at most);
        return whether it was added."""
        if not self.exact:
            if self.size + bound <= self.cap or not self.chats:
                self.size += bound
                self.chats.append(chat)
                return True
            self.exact = True
            self.size = self.base - 2 + len(_encode(self.chats))  # "[]" was in the base
        size = len(_encode(chat)) + 1  # and its comma
        if self.size + size > self.cap and self.chats:
            return False
        self.size += size
        self.chats.append(chat)
        return True


def chat_out(row: Any, now: int, timeout_ms: int) -> tuple[ChatOut, int]:
    """Return a stored message (a row of ``q.MESSAGE_FIELDS``) as read, and a bound of the
    bytes it takes as JSON."""
    role, msg, seq, at, meta = row[:5]
    meta_raw = None if meta is None else _raw(meta.encode())
    if row[5:] == _NO_EXTRA:
        return ChatOut(role, msg, seq, _rfc3339(at), meta_raw), 6 * len(msg) + len(
            meta_raw or b""
        ) + _CHAT_OVERHEAD
    parts, reasoning, calls, call_id, name, status, updated = row[5:]
    if status == "streaming" and now - (updated or at) > timeout_ms:
        status = "failed"
    parts_raw = None if parts is None else _raw(parts.encode())
    calls_raw = None if calls is None else _raw(calls.encode())
    chat = ChatOut(
        role,
        msg,
        seq,
        _rfc3339(at),
        meta_raw,
        parts_raw,
        reasoning or "",
        calls_raw,
        call_id or "",
        name or "",
        status or "complete",
        "" if updated is None else _rfc3339(updated),
    )
    text = len(msg) + len(chat.reasoning) + len(chat.tool_call_id) + len(chat.name)
    stored = sum(len(r) for r in (meta_raw, parts_raw, calls_raw) if r is not None)
    return chat, 6 * text + stored + _CHAT_OVERHEAD


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
            for row in rows:
                if len(page.chats) == ask.limit:
                    return title, page.chats, True
                chat, bound = chat_out(row, now, streaming_timeout_ms)
                if not page.add(chat, bound):
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
