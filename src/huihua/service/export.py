"""A user's data, whole (docs/api.md §5.5): ``/export_user_data`` as one JSON document, streamed.

The user as ``/query_user_info`` gives it, then every session as ``/query_session_names``
lists it (the pinned ones first, most recently pinned first, then the others, most recently
active first; each with ``pinned``) with its ``chats`` as ``/query_session_info`` gives them
(oldest first, every field that is set). It is read in one snapshot (the store as of
one moment, whatever is written meanwhile), sessions and messages by keyset pages, and sent
in chunks of about CHUNK bytes as they are made: a user with 100,000 messages is never held
in memory whole (bench/export.py measures it).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator

import msgspec

from huihua import timestamps
from huihua.errors import NotFound
from huihua.service.chats import session_out
from huihua.service.pages import chat_out
from huihua.service.users import USER_NOT_FOUND, profile_of
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.replies import Envelope

CHUNK = 256 * 1024
SESSIONS_PER_READ = 200
MESSAGES_PER_READ = 500
_encode = msgspec.json.Encoder().encode


async def export_user_data(
    store: Store, request_id: str, user_id: str, *, streaming_timeout_ms: int
) -> AsyncGenerator[bytes, None]:
    """Return the chunks of the user's export, once the first is made: NotFound (no such
    user) is raised here, before anything is sent."""

    def produce(db: Db) -> Iterator[bytes]:
        now = timestamps.now_ms()
        user = q.get_user(db, user_id)
        if user is None:
            raise NotFound(USER_NOT_FOUND)
        envelope = _encode(Envelope(request_id=request_id))[:-1]
        out = bytearray(envelope + b',"user":' + _encode(profile_of(user)) + b',"sessions":[')
        after: tuple[bool, int, str] | None = None
        first_session = True
        while True:
            rows = q.list_sessions(db, user_id, SESSIONS_PER_READ, after)
            for row in rows:
                session = session_out(row)
                out += (b"" if first_session else b",") + _encode(session)[:-1] + b',"chats":['
                first_session = False
                yield from _chats(db, session.session_id, out, now)
                out += b"]}"
                if len(out) >= CHUNK:
                    yield bytes(out)
                    out.clear()
            if len(rows) < SESSIONS_PER_READ:
                break
            after = q.list_position(rows[-1])
        out += b"]}"
        yield bytes(out)

    def _chats(db: Db, session_id: str, out: bytearray, now: int) -> Iterator[bytes]:
        seq = 0
        first = True
        while True:
            rows = q.messages_page(db, user_id, session_id, MESSAGES_PER_READ, after_seq=seq)
            for row in rows:
                out += (b"" if first else b",") + _encode(chat_out(row, now, streaming_timeout_ms))
                first = False
                if len(out) >= CHUNK:
                    yield bytes(out)
                    out.clear()
            if len(rows) < MESSAGES_PER_READ:
                return
            seq = rows[-1][2]

    chunks = store.snapshot_chunks(produce)
    first = await anext(chunks)

    async def every_chunk() -> AsyncGenerator[bytes, None]:
        yield first
        async for chunk in chunks:
            yield chunk

    return every_chunk()
