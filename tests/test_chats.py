"""/add_chat creates a session or appends to one, with its title and meta (API.md §3)."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from .chats_cases import chat, info, names, new_session_id, session_ids, title_of
from .helpers import fails, ok

if TYPE_CHECKING:
    from conftest import Api


# -- /add_chat ----------------------------------------------------------------------------


@pytest.mark.parametrize("given", [None, ""], ids=["absent", "empty"])
def test_add_chat_without_session_id_creates_a_session(api: Api, user: str, given: Any) -> None:
    fields: dict[str, Any] = {} if given is None else {"session_id": given}
    rid = f"r-{uuid.uuid4().hex}"
    body = chat(api, user, "今天天气不错", request_id=rid, **fields)
    assert set(body) == {"request_id", "ok", "failed", "session_id", "seq", "created_at"}
    assert body["request_id"] == rid
    assert body["seq"] == 1
    sid = body["session_id"]
    assert session_ids(api, user) == [sid]
    got = info(api, user, sid)
    assert got["chats"] == [
        {
            "role": "user",
            "msg": "今天天气不错",
            "seq": 1,
            "created_at": body["created_at"],
            "meta": None,
        }
    ]
    # A second call without a session id makes another session.
    other = chat(api, user, "again", **fields)
    assert other["session_id"] != sid
    assert other["seq"] == 1
    assert sorted(session_ids(api, user)) == sorted([sid, other["session_id"]])


def test_server_ids_sort_by_creation_time(api: Api, user: str) -> None:
    made = [chat(api, user, f"m{i}")["session_id"] for i in range(5)]
    assert len(set(made)) == 5
    assert made == sorted(made)
    for earlier, later in itertools.pairwise(made):
        assert earlier < later


def test_given_new_session_id_creates_it_then_appends(api: Api, user: str) -> None:
    sid = new_session_id()
    replies = [
        chat(api, user, "q1", session_id=sid),
        chat(api, user, "a1", role="ai", session_id=sid),
        chat(api, user, "q2", session_id=sid),
    ]
    assert [r["session_id"] for r in replies] == [sid, sid, sid]
    assert [r["seq"] for r in replies] == [1, 2, 3]
    got = info(api, user, sid)
    assert got["chats"] == [
        {
            "role": "user",
            "msg": "q1",
            "seq": 1,
            "created_at": replies[0]["created_at"],
            "meta": None,
        },
        {"role": "ai", "msg": "a1", "seq": 2, "created_at": replies[1]["created_at"], "meta": None},
        {
            "role": "user",
            "msg": "q2",
            "seq": 3,
            "created_at": replies[2]["created_at"],
            "meta": None,
        },
    ]
    rows = names(api, user)["sessions"]
    assert rows == [
        {
            "session_id": sid,
            "session_title": "q1",
            "created_at": replies[0]["created_at"],
            "updated_at": replies[2]["created_at"],
            "chat_count": 3,
            "pinned": False,
        }
    ]


def test_appending_to_a_server_made_session(api: Api, user: str) -> None:
    first = chat(api, user, "hello")
    second = chat(api, user, "world", role="ai", session_id=first["session_id"])
    assert second["session_id"] == first["session_id"]
    assert second["seq"] == 2
    assert session_ids(api, user) == [first["session_id"]]


@pytest.mark.parametrize("given", [None, "s-unknown-user"], ids=["new", "given"])
def test_add_chat_for_unknown_user(api: Api, given: str | None) -> None:
    user_id = f"u-{uuid.uuid4().hex}"
    fields = {} if given is None else {"session_id": given}
    body = fails(api, "/add_chat", 2, user_id=user_id, role="user", msg="hi", **fields)
    assert "add_user" in body["failed"]
    # Nothing was stored: once the user exists, they have no session.
    ok(api, "/add_user", user_id=user_id, user_name="late")
    assert names(api, user_id)["sessions"] == []


def test_session_title_is_used_only_when_the_call_creates_the_session(api: Api, user: str) -> None:
    sid = chat(api, user, "the question", session_title="我的标题")["session_id"]
    assert title_of(api, user, sid) == "我的标题"
    chat(api, user, "more", session_id=sid, session_title="ignored")
    chat(api, user, "reply", role="ai", session_id=sid, session_title="ignored too")
    assert title_of(api, user, sid) == "我的标题"

    given = new_session_id()
    chat(
        api,
        user,
        "a long first message that would be a title",
        session_id=given,
        session_title="Given",
    )
    assert title_of(api, user, given) == "Given"

    # A title given when an ai message opens the session is kept too.
    ai_first = chat(api, user, "hello", role="ai", session_title="AI title")["session_id"]
    chat(api, user, "user question", session_id=ai_first)
    assert title_of(api, user, ai_first) == "AI title"


def test_meta_is_returned_as_it_came(api: Api, user: str) -> None:
    meta = {
        "z_model": "deepseek-chat",
        "a_tokens": {"prompt": 12, "completion": 340, "total": 352},
        "m_client_msg_id": "c-1",
        "nested": {"y": [1, 2.5, {"x": None, "w": [True, False]}], "b": "文字😀", "a": {}},
        "ratio": 0.125,
        "neg": -7,
        "empty": [],
        "nothing": None,
    }
    first = chat(api, user, "with meta", meta=meta)
    sid = first["session_id"]
    chat(api, user, "without meta", role="ai", session_id=sid)
    chat(api, user, "empty meta", session_id=sid, meta={})
    response = api.post("/query_session_info", {"user_id": user, "session_id": sid})
    body = response.json()
    assert body["ok"] == 0, body
    got = [row["meta"] for row in body["chats"]]
    assert got == [meta, None, {}]
    # Key order is kept, at every depth.
    assert json.dumps(got[0]) == json.dumps(meta)
    assert list(got[0]) == list(meta)
    assert list(got[0]["nested"]) == ["y", "b", "a"]
    assert "meta" in body["chats"][1]


# -- titles -------------------------------------------------------------------------------

CHINESE_30 = "今天天气不错我们一起去公园散步吧顺便买点新鲜的水果回家做沙拉"
assert len(CHINESE_30) == 30

TITLE_CASES = [
    ("short", "hello", "hello"),
    ("exactly-30", "a" * 30, "a" * 30),
    ("31", "b" * 31, "b" * 30 + "…"),
    ("long", "0123456789" * 10, "012345678901234567890123456789…"),
    ("chinese-30", CHINESE_30, CHINESE_30),
    ("chinese-31", CHINESE_30 + "啊", CHINESE_30 + "…"),
    ("chinese-short", "帮我讲个笑话", "帮我讲个笑话"),
    ("newlines-tabs", "  hello\n\n\tworld \r\n foo\t\t", "hello world foo"),
    (
        "collapse-to-30",
        "x" * 10 + "\n\n\t  " + "y" * 9 + "   \t" + "z" * 9,
        "x" * 10 + " " + "y" * 9 + " " + "z" * 9,
    ),
    ("collapse-then-cut", "abc \n\t " * 10, "abc abc abc abc abc abc abc ab…"),
    ("emoji-31", "😀" * 31, "😀" * 30 + "…"),
    ("chinese-spaces", "你好\u3000\u3000世界", "你好 世界"),
]


@pytest.mark.parametrize(
    ("msg", "title"), [c[1:] for c in TITLE_CASES], ids=[c[0] for c in TITLE_CASES]
)
def test_auto_title(api: Api, user: str, msg: str, title: str) -> None:
    sid = chat(api, user, msg)["session_id"]
    assert title_of(api, user, sid) == title


def test_title_case_table_is_right() -> None:
    """The expected titles above follow the rule as written (guards the table itself)."""
    for _, msg, title in TITLE_CASES:
        collapsed = " ".join(msg.split())
        assert title == (collapsed if len(collapsed) <= 30 else collapsed[:30] + "…")


def test_session_opened_by_ai_is_untitled_until_first_user_message(api: Api, user: str) -> None:
    sid = chat(api, user, "您好，请问有什么可以帮到您", role="ai")["session_id"]
    assert title_of(api, user, sid) == ""
    chat(api, user, "还有别的吗", role="ai", session_id=sid)
    assert title_of(api, user, sid) == ""
    chat(api, user, "帮我讲个\n笑话", session_id=sid, session_title="not this")
    assert title_of(api, user, sid) == "帮我讲个 笑话"
    chat(api, user, "a later question", session_id=sid)
    assert title_of(api, user, sid) == "帮我讲个 笑话"


def test_a_later_user_message_does_not_retitle(api: Api, user: str) -> None:
    sid = new_session_id()
    chat(api, user, "first question", session_id=sid)
    chat(api, user, "answer", role="ai", session_id=sid)
    chat(api, user, "second question", session_id=sid)
    assert title_of(api, user, sid) == "first question"
