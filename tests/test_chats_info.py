"""/query_session_info pages a session's messages back with before_seq."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from .chats_cases import chat, info, make_session, new_session_id, seqs
from .helpers import fails

if TYPE_CHECKING:
    from conftest import Api


# -- /query_session_info ------------------------------------------------------------------


def test_session_info_lists_chats_oldest_first(api: Api, user: str) -> None:
    sid, chats = make_session(api, user, 5)
    body = info(api, user, sid, request_id="read-1")
    assert body["request_id"] == "read-1"
    assert body["session_title"] == "message 1"
    assert body["chats"] == chats
    assert body["has_more"] is False
    assert {
        "request_id",
        "ok",
        "failed",
        "user_id",
        "session_id",
        "session_title",
        "chats",
        "has_more",
    } <= set(body)


def test_session_info_limit_and_before_seq(api: Api, user: str) -> None:
    sid, chats = make_session(api, user, 5)
    cases = [
        # (limit, before_seq, seqs, has_more)
        (None, None, [1, 2, 3, 4, 5], False),
        (10, None, [1, 2, 3, 4, 5], False),
        (5, None, [1, 2, 3, 4, 5], False),
        (4, None, [2, 3, 4, 5], True),
        (1, None, [5], True),
        (None, 5, [1, 2, 3, 4], False),
        (2, 5, [3, 4], True),
        (2, 3, [1, 2], False),
        (1, 3, [2], True),
        (1, 2, [1], False),
        (5, 1, [], False),
        (3, 100, [3, 4, 5], True),
    ]
    for limit, before_seq, want, has_more in cases:
        fields: dict[str, Any] = {}
        if limit is not None:
            fields["limit"] = limit
        if before_seq is not None:
            fields["before_seq"] = before_seq
        body = info(api, user, sid, **fields)
        assert seqs(body) == want, (limit, before_seq, body)
        assert body["chats"] == [chats[s - 1] for s in want]
        assert body["has_more"] is has_more, (limit, before_seq, body)


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 8])
def test_walking_back_visits_every_message_once(api: Api, user: str, limit: int) -> None:
    sid, chats = make_session(api, user, 7)
    seen: list[dict[str, Any]] = []
    body = info(api, user, sid, limit=limit)
    for _ in range(20):
        page = body["chats"]
        assert seqs(body) == sorted(seqs(body))
        seen = page + seen
        if not body["has_more"]:
            break
        body = info(api, user, sid, limit=limit, before_seq=page[0]["seq"])
    else:
        raise AssertionError("walking back did not end")
    assert seen == chats


def test_session_info_of_unknown_session(api: Api, user: str) -> None:
    body = fails(api, "/query_session_info", 2, user_id=user, session_id=new_session_id())
    assert "session_id" in body["failed"]
    fails(api, "/query_session_info", 2, user_id=f"u-{uuid.uuid4().hex}", session_id="x")


def test_session_info_of_another_users_session(api: Api, user: str) -> None:
    other = api.new_user()
    sid = chat(api, other, "private")["session_id"]
    fails(api, "/query_session_info", 2, user_id=user, session_id=sid)
    assert info(api, other, sid)["chats"][0]["msg"] == "private"


def test_same_session_id_for_two_users_is_two_sessions(api: Api, user: str) -> None:
    other = api.new_user()
    sid = new_session_id()
    chat(api, user, "mine", session_id=sid)
    first_other = chat(api, other, "theirs", session_id=sid)
    assert first_other["seq"] == 1
    assert [c["msg"] for c in info(api, user, sid)["chats"]] == ["mine"]
    assert [c["msg"] for c in info(api, other, sid)["chats"]] == ["theirs"]
