"""Keeping the list in order (API.md §5.4): /rename_session, on every store.

The session keeps the title given from then on (user messages that come later do not
change it), and its place in the list stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .helpers import fails, next_millisecond, ok

if TYPE_CHECKING:
    from conftest import Api


def titles(api: Api, user: str) -> list[tuple[str, str]]:
    rows = ok(api, "/query_session_names", user_id=user)["sessions"]
    return [(s["session_id"], s["session_title"]) for s in rows]


def test_a_renamed_session_keeps_its_title_and_its_place(api: Api, user: str) -> None:
    ok(api, "/add_chat", user_id=user, session_id="a", role="user", msg="first question")
    next_millisecond()
    ok(api, "/add_chat", user_id=user, session_id="b", role="user", msg="second question")
    before = ok(api, "/query_session_names", user_id=user)["sessions"]
    reply = ok(api, "/rename_session", user_id=user, session_id="a", session_title="巴黎之旅 ✈")
    assert (reply["session_id"], reply["session_title"]) == ("a", "巴黎之旅 ✈")
    after = ok(api, "/query_session_names", user_id=user)["sessions"]
    assert [s["session_id"] for s in after] == ["b", "a"]
    assert after[1]["updated_at"] == before[1]["updated_at"]
    ok(api, "/add_chat", user_id=user, session_id="a", role="user", msg="more")
    info = ok(api, "/query_session_info", user_id=user, session_id="a")
    assert info["session_title"] == "巴黎之旅 ✈"
    assert titles(api, user) == [("a", "巴黎之旅 ✈"), ("b", "second question")]


def test_a_session_with_no_title_yet_takes_the_one_given(api: Api, user: str) -> None:
    ok(api, "/add_chat", user_id=user, session_id="c", role="system", msg="be terse")
    ok(api, "/rename_session", user_id=user, session_id="c", session_title="Notes")
    ok(api, "/add_chat", user_id=user, session_id="c", role="user", msg="a question")
    assert titles(api, user) == [("c", "Notes")]


def test_rename_rules(api: Api, user: str) -> None:
    ok(api, "/add_chat", user_id=user, session_id="d", role="user", msg="q")
    assert fails(api, "/rename_session", 1, user_id=user, session_id="d", session_title="")[
        "failed"
    ].startswith("session_title:")
    fails(api, "/rename_session", 6, user_id=user, session_id="d", session_title="t" * 101)
    ok(api, "/rename_session", user_id=user, session_id="d", session_title="t" * 100)
    fails(api, "/rename_session", 2, user_id=user, session_id="nope", session_title="x")
    fails(api, "/rename_session", 2, user_id="nobody-here", session_id="d", session_title="x")


def test_feedback_on_an_answer(api: Api, user: str) -> None:
    turn = [{"role": "user", "msg": "q"}, {"role": "ai", "msg": "a"}]
    ok(api, "/add_chats", user_id=user, session_id="r", chats=turn)
    next_millisecond()
    ok(api, "/add_chat", user_id=user, session_id="other", role="user", msg="later")
    key = {"user_id": user, "session_id": "r"}
    reply = ok(api, "/rate_chat", **key, seq=2, rating="dislike", comment="太长了 😀")
    assert (reply["seq"], reply["rating"]) == (2, "dislike")
    answer = ok(api, "/query_session_info", **key)["chats"][1]
    assert (answer["rating"], answer["comment"]) == ("dislike", "太长了 😀")
    exported = ok(api, "/export_user_data", user_id=user)["sessions"]
    assert [c for s in exported if s["session_id"] == "r" for c in s["chats"]][1] == answer
    ok(api, "/rate_chat", **key, seq=2, rating="like")
    answer = ok(api, "/query_session_info", **key)["chats"][1]
    assert answer["rating"] == "like" and "comment" not in answer
    ok(api, "/rate_chat", **key, seq=2, rating="")
    answer = ok(api, "/query_session_info", **key)["chats"][1]
    assert "rating" not in answer and "comment" not in answer
    # rating moves nothing in the list
    assert [s for s, _ in titles(api, user)] == ["other", "r"]
    assert fails(api, "/rate_chat", 11, **key, seq=1, rating="like")["failed"].startswith("seq:")
    fails(api, "/rate_chat", 2, **key, seq=9, rating="like")
    fails(api, "/rate_chat", 1, **key, seq=2, rating="meh")
    fails(api, "/rate_chat", 1, **key, seq=2, rating="", comment="why")
    fails(api, "/rate_chat", 6, **key, seq=2, rating="like", comment="c" * 1_001)
