"""The calls and checks the tests of sessions and messages share (test_chats*.py).

Those tests run over HTTP, on every store (API.md §3): /add_chat creates or appends,
/query_session_names lists the sessions most recently active first by keyset pages,
/query_session_info pages a session's messages back with before_seq,
/delete_specific_session and /delete_sessions remove them.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from .helpers import TIMESTAMP, next_millisecond, ok

if TYPE_CHECKING:
    from conftest import Api


SERVER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SESSION_ROW_KEYS = {
    "session_id",
    "session_title",
    "created_at",
    "updated_at",
    "chat_count",
    "pinned",
}


def chat(api: Api, user_id: str, msg: str = "hi", role: str = "user", **more: Any) -> dict:
    """Add one message; return the reply, checked."""
    body = ok(api, "/add_chat", user_id=user_id, role=role, msg=msg, **more)
    assert SERVER_ID.match(body["session_id"]), body
    assert TIMESTAMP.match(body["created_at"]), body
    return body


def names(api: Api, user_id: str, **more: Any) -> dict[str, Any]:
    body = ok(api, "/query_session_names", user_id=user_id, **more)
    for row in body["sessions"]:
        assert set(row) == SESSION_ROW_KEYS, row
        assert TIMESTAMP.match(row["created_at"]), row
        assert TIMESTAMP.match(row["updated_at"]), row
    return body


def session_ids(api: Api, user_id: str) -> list[str]:
    body = names(api, user_id, limit=1000)
    assert body["next_cursor"] == ""
    return [row["session_id"] for row in body["sessions"]]


def info(api: Api, user_id: str, session_id: str, **more: Any) -> dict[str, Any]:
    body = ok(api, "/query_session_info", user_id=user_id, session_id=session_id, **more)
    assert body["user_id"] == user_id
    assert body["session_id"] == session_id
    for row in body["chats"]:
        assert TIMESTAMP.match(row["created_at"]), row
    return body


def seqs(body: dict[str, Any]) -> list[int]:
    return [row["seq"] for row in body["chats"]]


def title_of(api: Api, user_id: str, session_id: str) -> str:
    """Return the session's title, checking that both queries agree on it."""
    from_info = info(api, user_id, session_id)["session_title"]
    rows = [r for r in names(api, user_id, limit=1000)["sessions"] if r["session_id"] == session_id]
    assert len(rows) == 1
    assert rows[0]["session_title"] == from_info
    return from_info


def new_session_id() -> str:
    return f"s-{uuid.uuid4().hex}"


def tick() -> None:
    """Let the millisecond clock move on, so two writes get different times."""
    next_millisecond()


def walk(api: Api, user_id: str, limit: int) -> list[dict[str, Any]]:
    """Return every session row, page by page through next_cursor."""
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        fields: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            fields["cursor"] = cursor
        body = names(api, user_id, **fields)
        assert len(body["sessions"]) <= limit
        rows.extend(body["sessions"])
        cursor = body["next_cursor"]
        if cursor == "":
            return rows
        assert len(body["sessions"]) == limit
    raise AssertionError("paging did not end")


def make_session(api: Api, user_id: str, count: int) -> tuple[str, list[dict[str, Any]]]:
    """Return a new session of ``count`` messages and the chats it should list."""
    sid = new_session_id()
    chats = []
    for i in range(1, count + 1):
        role = "user" if i % 2 else "ai"
        meta = {"i": i} if i % 3 == 0 else None
        fields: dict[str, Any] = {"session_id": sid}
        if meta is not None:
            fields["meta"] = meta
        reply = chat(api, user_id, f"message {i}", role=role, **fields)
        assert reply["seq"] == i
        chats.append(
            {
                "role": role,
                "msg": f"message {i}",
                "seq": i,
                "created_at": reply["created_at"],
                "meta": meta,
            }
        )
    return sid, chats
