"""The calls the tests of messages share (test_messages_*.py).

Those tests write messages as AI apps write them (API.md §5.1, §5.2, after_seq of §5.3), on
every store. Every field round-trips; a turn is written whole or not at all; a streaming
placeholder is finished by /update_chat while other appends land; updates and deletes keep
the session's seqs (never reused) and its place in the list as the contract says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .helpers import ok

if TYPE_CHECKING:
    from conftest import Api


FOUR_BYTES = "😀𠀀"  # characters outside the BMP: four bytes in UTF-8, two UTF-16 units
SEED_KEYS = {"role", "msg", "seq", "created_at", "meta"}


def read(api: Api, user_id: str, session_id: str, **more: Any) -> dict[str, Any]:
    return ok(api, "/query_session_info", user_id=user_id, session_id=session_id, **more)


def chats(api: Api, user_id: str, session_id: str, **more: Any) -> list[dict[str, Any]]:
    return read(api, user_id, session_id, **more)["chats"]


def turn(api: Api, user_id: str, messages: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return ok(api, "/add_chats", user_id=user_id, chats=messages, **more)


def session_row(api: Api, user_id: str, session_id: str) -> dict[str, Any]:
    rows = ok(api, "/query_session_names", user_id=user_id)["sessions"]
    (row,) = [r for r in rows if r["session_id"] == session_id]
    return row
