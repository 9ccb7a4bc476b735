"""/delete_specific_session and /delete_sessions remove sessions, and only the user's own."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .chats_cases import chat, info, make_session, names, new_session_id, seqs, session_ids
from .helpers import fails, ok

if TYPE_CHECKING:
    from conftest import Api


# -- deleting -----------------------------------------------------------------------------


def test_delete_specific_session(api: Api, user: str) -> None:
    sid, _ = make_session(api, user, 3)
    keep = chat(api, user, "keep me")["session_id"]
    body = ok(api, "/delete_specific_session", request_id="del-1", user_id=user, session_id=sid)
    assert body == {"request_id": "del-1", "ok": 0, "failed": ""}
    fails(api, "/query_session_info", 2, user_id=user, session_id=sid)
    assert session_ids(api, user) == [keep]
    # Re-adding the same id starts a new session at seq 1, without the old messages.
    again = chat(api, user, "fresh", session_id=sid)
    assert again["seq"] == 1
    got = info(api, user, sid)
    assert [c["msg"] for c in got["chats"]] == ["fresh"]
    assert seqs(got) == [1]
    assert got["session_title"] == "fresh"
    assert got["has_more"] is False
    row = [r for r in names(api, user)["sessions"] if r["session_id"] == sid]
    assert row[0]["chat_count"] == 1


def test_delete_unknown_session(api: Api, user: str) -> None:
    body = fails(api, "/delete_specific_session", 2, user_id=user, session_id=new_session_id())
    assert "session_id" in body["failed"]
    sid = chat(api, user, "x")["session_id"]
    ok(api, "/delete_specific_session", user_id=user, session_id=sid)
    fails(api, "/delete_specific_session", 2, user_id=user, session_id=sid)


def test_delete_another_users_session_leaves_it(api: Api, user: str) -> None:
    other = api.new_user()
    sid, chats = make_session(api, other, 2)
    fails(api, "/delete_specific_session", 2, user_id=user, session_id=sid)
    assert info(api, other, sid)["chats"] == chats
    assert session_ids(api, other) == [sid]


def test_delete_sessions(api: Api, user: str) -> None:
    other = api.new_user()
    for i in range(3):
        make_session(api, user, i + 1)
    theirs, their_chats = make_session(api, other, 2)
    body = ok(api, "/delete_sessions", request_id="clear-1", user_id=user)
    assert body == {"request_id": "clear-1", "ok": 0, "failed": "", "deleted": 3}
    assert session_ids(api, user) == []
    # The user stays, and so do other users' sessions.
    assert ok(api, "/query_user_info", user_id=user)["user_id"] == user
    assert session_ids(api, other) == [theirs]
    assert info(api, other, theirs)["chats"] == their_chats
    # Clearing again deletes nothing.
    assert ok(api, "/delete_sessions", user_id=user)["deleted"] == 0
    # The user can start again.
    assert chat(api, user, "after clearing")["seq"] == 1


def test_delete_sessions_of_user_without_sessions(api: Api, user: str) -> None:
    body = ok(api, "/delete_sessions", user_id=user)
    assert body["deleted"] == 0


def test_delete_sessions_of_unknown_user(api: Api) -> None:
    body = fails(api, "/delete_sessions", 2, user_id=f"u-{uuid.uuid4().hex}")
    assert "user_id" in body["failed"]
