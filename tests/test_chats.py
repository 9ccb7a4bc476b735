"""Sessions and messages (API.md §3), over HTTP, on every store.

/add_chat creates or appends, /query_session_names lists the sessions most recently active
first by keyset pages, /query_session_info pages a session's messages back with before_seq,
/delete_specific_session and /delete_sessions remove them.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from .helpers import TIMESTAMP, fails, insert_sessions, next_millisecond, ok

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


# -- /query_session_names -----------------------------------------------------------------


def test_appending_moves_a_session_to_the_top(api: Api, user: str) -> None:
    a = chat(api, user, "a")["session_id"]
    tick()
    b = chat(api, user, "b")["session_id"]
    tick()
    c = chat(api, user, "c")["session_id"]
    assert session_ids(api, user) == [c, b, a]
    tick()
    chat(api, user, "a again", role="ai", session_id=a)
    assert session_ids(api, user) == [a, c, b]
    tick()
    chat(api, user, "b again", session_id=b)
    assert session_ids(api, user) == [b, a, c]


def test_session_rows(api: Api, user: str) -> None:
    first = chat(api, user, "row test")
    sid = first["session_id"]
    tick()
    last = chat(api, user, "reply", role="ai", session_id=sid)
    body = names(api, user)
    assert set(body) == {"request_id", "ok", "failed", "sessions", "next_cursor"}
    assert body["next_cursor"] == ""
    assert body["sessions"] == [
        {
            "session_id": sid,
            "session_title": "row test",
            "created_at": first["created_at"],
            "updated_at": last["created_at"],
            "chat_count": 2,
            "pinned": False,
        }
    ]
    assert first["created_at"] < last["created_at"]


def test_limit_default_is_100(api: Api, user: str) -> None:
    made = []
    for i in range(101):
        made.append(chat(api, user, f"session {i}")["session_id"])
        tick()
    newest_first = list(reversed(made))
    first = names(api, user)
    assert [r["session_id"] for r in first["sessions"]] == newest_first[:100]
    assert first["next_cursor"] != ""
    rest = names(api, user, cursor=first["next_cursor"])
    assert [r["session_id"] for r in rest["sessions"]] == newest_first[100:]
    assert rest["next_cursor"] == ""
    everything = names(api, user, limit=1000)
    assert [r["session_id"] for r in everything["sessions"]] == newest_first
    assert everything["next_cursor"] == ""
    exact = names(api, user, limit=101)
    assert len(exact["sessions"]) == 101
    assert exact["next_cursor"] == ""


def test_explicit_limit(api: Api, user: str) -> None:
    made = []
    for i in range(4):
        made.append(chat(api, user, f"s{i}")["session_id"])
        tick()
    newest_first = list(reversed(made))
    for limit in (1, 2, 3):
        body = names(api, user, limit=limit)
        assert [r["session_id"] for r in body["sessions"]] == newest_first[:limit]
        assert body["next_cursor"] != ""
    body = names(api, user, limit=4)
    assert [r["session_id"] for r in body["sessions"]] == newest_first
    assert body["next_cursor"] == ""


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


def test_keyset_paging_visits_every_session_once_in_order(api: Api, user: str) -> None:
    made = []
    for i in range(7):
        made.append(chat(api, user, f"s{i}")["session_id"])
        tick()
    tick()
    chat(api, user, "bump", session_id=made[2])  # reorder: 2 is now the newest
    expected = [made[2], made[6], made[5], made[4], made[3], made[1], made[0]]
    assert session_ids(api, user) == expected
    for limit in (1, 2, 3, 6, 7, 8):
        assert [r["session_id"] for r in walk(api, user, limit)] == expected, limit


def test_paging_through_ties_on_updated_at_is_stable(api: Api, user: str) -> None:
    t = int(time.time() * 1000) - 60_000
    newer = [("n-1", t + 5), ("n-2", t + 5)]
    tied = [(sid, t) for sid in ("a", "B", "b", "Z_9", "0-x", "tie-5", "a_", "A-")]
    older = [("o-1", t - 3), ("o-2", t - 3), ("o-3", t - 7)]
    insert_sessions(api, user, newer + tied + older)
    every = {sid for sid, _ in newer + tied + older}

    full = walk(api, user, 1000)
    order = [r["session_id"] for r in full]
    assert sorted(order) == sorted(every)
    assert set(order[:2]) == {"n-1", "n-2"}
    assert set(order[2:10]) == {sid for sid, _ in tied}
    assert set(order[10:12]) == {"o-1", "o-2"}
    assert order[12] == "o-3"
    stamps = [r["updated_at"] for r in full]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps[2:10])) == 1

    for limit in range(1, len(every) + 1):
        paged = [r["session_id"] for r in walk(api, user, limit)]
        assert len(paged) == len(set(paged)), (limit, paged)  # none repeated
        assert set(paged) == every, (limit, paged)  # none lost
        assert paged == order, (limit, paged)  # the same order on every page size


def test_session_names_of_unknown_user(api: Api) -> None:
    body = fails(api, "/query_session_names", 2, user_id=f"u-{uuid.uuid4().hex}")
    assert "user_id" in body["failed"]


def test_session_names_of_user_without_sessions(api: Api, user: str) -> None:
    body = names(api, user)
    assert body["sessions"] == []
    assert body["next_cursor"] == ""


# -- /query_session_info ------------------------------------------------------------------


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
