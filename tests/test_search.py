"""Finding a message by its words (API.md §5.3): /search_chats, on every store.

A substring match (one- and two-character Chinese queries find their messages), A–Z either
case and nothing else folded, newest first, by cursor pages, within the reply cap; only the
user's own ``user`` and ``ai`` messages, as they are now (changed, deleted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from huihua.service.search import snippet
from huihua.store.search import signature

from .helpers import fails, next_millisecond, ok

if TYPE_CHECKING:
    from conftest import Api


def found(api: Api, user: str, query: str, **fields: Any) -> list[tuple[str, int]]:
    """Return every (session_id, seq) the query finds, walking all its pages."""
    keys: list[tuple[str, int]] = []
    cursor = ""
    while True:
        reply = ok(api, "/search_chats", user_id=user, query=query, cursor=cursor, **fields)
        keys += [(r["session_id"], r["seq"]) for r in reply["results"]]
        cursor = reply["next_cursor"]
        if not cursor:
            return keys


def add(api: Api, user: str, session: str, *msgs: str, role: str = "user") -> None:
    for msg in msgs:
        ok(api, "/add_chat", user_id=user, session_id=session, role=role, msg=msg)


def test_the_examples_of_the_contract(api: Api, user: str) -> None:
    add(
        api,
        user,
        "s",
        "我家的猫很可爱",  # 1
        "今天天气怎么样？",  # 2
        "折扣 100% 真的吗",  # 3
        "file_name.txt",  # 4
        "C:\\Users\\me",  # 5
        "Sunny day",  # 6
        "sunny DAY",  # 7
        "100 percent",  # 8
        "filename",  # 9
    )
    assert found(api, user, "猫") == [("s", 1)]
    assert found(api, user, "天气") == [("s", 2)]
    assert found(api, user, "100%") == [("s", 3)]
    assert found(api, user, "_") == [("s", 4)]
    assert found(api, user, "\\") == [("s", 5)]
    assert found(api, user, "Sunny") == [("s", 7), ("s", 6)]
    assert found(api, user, "sunny") == [("s", 7), ("s", 6)]
    assert found(api, user, "SUNNY day") == [("s", 7), ("s", 6)]
    assert found(api, user, "%") == [("s", 3)]
    assert found(api, user, "e_n") == [("s", 4)]
    assert found(api, user, "天天") == [("s", 2)]
    assert found(api, user, "狗") == []


def test_a_result_holds_the_message_and_a_snippet(api: Api, user: str) -> None:
    ok(api, "/add_chat", user_id=user, session_id="t", role="user", msg="北京的天气如何")
    ok(api, "/rename_session", user_id=user, session_id="t", session_title="出行")
    reply = ok(api, "/search_chats", user_id=user, query="天气")
    (result,) = reply["results"]
    stored = ok(api, "/query_session_info", user_id=user, session_id="t")["chats"][0]
    assert result == {
        "session_id": "t",
        "session_title": "出行",
        "seq": 1,
        "role": "user",
        "msg": "北京的天气如何",
        "snippet": ["北京的", "天气", "如何"],
        "created_at": stored["created_at"],
    }
    assert reply["next_cursor"] == ""


def test_snippets_are_cut_to_120_characters_around_the_first_match() -> None:
    msg = "a" * 300 + "MATCH" + "b" * 300 + "MATCH"
    before, match, after = snippet(msg, 300, 305)
    assert match == "MATCH" and len(before + match + after) == 120
    assert before.startswith("…") and before.endswith("a") and after.endswith("…")
    assert snippet("xx" + "y" * 200, 0, 2) == ["", "xx", "y" * 117 + "…"]
    assert snippet("z" * 200 + "end", 200, 203) == ["…" + "z" * 116, "end", ""]
    assert snippet("short 猫 text", 6, 7) == ["short ", "猫", " text"]
    long_query = "q" * 100
    assert snippet("x" * 50 + long_query + "y" * 50, 50, 150) == [
        "…" + "x" * 9,
        long_query,
        "y" * 9 + "…",
    ]


def test_newest_first_across_sessions(api: Api, user: str) -> None:
    add(api, user, "a", "雨 one")
    next_millisecond()
    add(api, user, "b", "雨 two")
    next_millisecond()
    add(api, user, "a", "雨 three")
    assert found(api, user, "雨") == [("a", 2), ("b", 1), ("a", 1)]
    assert found(api, user, "雨", session_id="b") == [("b", 1)]
    fails(api, "/search_chats", 2, user_id=user, query="雨", session_id="none-such")


def test_only_user_and_ai_messages_of_this_user(api: Api, user: str) -> None:
    other = api.new_user()
    add(api, other, "x", "秘密 of another")
    add(api, user, "m", "秘密 system prompt", role="system")
    ok(
        api,
        "/add_chats",
        user_id=user,
        session_id="m",
        chats=[
            {
                "role": "ai",
                "msg": "",
                "tool_calls": [{"id": "c", "name": "f", "arguments": "秘密"}],
            },
            {"role": "tool", "msg": "秘密 tool result", "tool_call_id": "c"},
            {"role": "ai", "msg": "秘密 answer"},
        ],
    )
    assert found(api, user, "秘密") == [("m", 4)]
    assert found(api, other, "秘密") == [("x", 1)]


def test_a_query_the_signature_keeps_no_bit_of(api: Api, user: str) -> None:
    # ૮ (U+0AEE, Gujarati eight): each of its positions is one a signature never keeps, so
    # the search tests no bit of it; system and tool messages (no signature) must stay out.
    query = "\u0aee"
    assert not any(signature.signature(query))
    add(api, user, "n", f"{query} system", role="system")
    add(api, user, "n", f"a {query} b", "nothing", f"{query}")
    assert found(api, user, query) == [("n", 4), ("n", 2)]


def test_four_byte_characters_and_queries_longer_than_any_message(api: Api, user: str) -> None:
    add(api, user, "e", "好的 😀👍 谢谢", "𠀀𠀁 rare", "😀")
    assert found(api, user, "😀") == [("e", 3), ("e", 1)]
    assert found(api, user, "😀👍") == [("e", 1)]
    assert found(api, user, "👍😀") == []
    assert found(api, user, "𠀁") == [("e", 2)]
    assert found(api, user, "好的 😀👍 谢谢" + "!" * 80) == []
    assert found(api, user, "x" * 100) == []


def test_changed_and_deleted_messages(api: Api, user: str) -> None:
    turn = [{"role": "user", "msg": "讲个笑话"}, {"role": "ai", "msg": "", "status": "streaming"}]
    ok(api, "/add_chats", user_id=user, session_id="u", chats=turn)
    ok(api, "/update_chat", user_id=user, session_id="u", seq=2, msg="第一版 answer")
    assert found(api, user, "第一版") == [("u", 2)]
    ok(api, "/update_chat", user_id=user, session_id="u", seq=2, msg="第二版 answer")
    assert found(api, user, "第一版") == []
    assert found(api, user, "第二版") == [("u", 2)]
    assert found(api, user, "answer") == [("u", 2)]
    ok(api, "/delete_chat", user_id=user, session_id="u", seq=2)
    assert found(api, user, "answer") == []
    add(api, user, "v", "葡萄 one", "葡萄 two", "葡萄 three")
    ok(api, "/delete_chat", user_id=user, session_id="v", from_seq=2)
    assert found(api, user, "葡萄") == [("v", 1)]
    ok(api, "/delete_specific_session", user_id=user, session_id="v")
    assert found(api, user, "葡萄") == []
    add(api, user, "w", "橘子")
    ok(api, "/delete_sessions", user_id=user)
    assert found(api, user, "橘子") == []
    assert found(api, user, "笑话") == []
    add(api, user, "z", "西瓜")
    ok(api, "/delete_user", user_id=user)
    fails(api, "/search_chats", 2, user_id=user, query="西瓜")


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_paging_is_exact_when_times_tie(api: Api, limit: int) -> None:
    user = api.new_user()
    # A turn's messages share one created_at; so can messages of two sessions.
    chats = [{"role": "user", "msg": f"同时 {i}"} for i in range(5)]
    ok(api, "/add_chats", user_id=user, session_id="p", chats=chats)
    ok(api, "/add_chats", user_id=user, session_id="q", chats=chats)
    add(api, user, "q", "不同")
    walked = found(api, user, "同时", limit=limit)
    assert sorted(walked) == sorted([(s, n) for s in "pq" for n in range(1, 6)])
    stamps = [
        r["created_at"]
        for r in ok(api, "/search_chats", user_id=user, query="同时", limit=100)["results"]
    ]
    assert stamps == sorted(stamps, reverse=True)


def test_many_misses_between_hits(api: Api, user: str) -> None:
    # Candidates the signature lets through that do not match, across several batches.
    ok(
        api,
        "/add_chats",
        user_id=user,
        session_id="n",
        chats=[{"role": "user", "msg": f"天 {i} 气"} for i in range(100)],
    )
    add(api, user, "n", "天气 at last")
    ok(
        api,
        "/add_chats",
        user_id=user,
        session_id="n",
        chats=[{"role": "ai", "msg": f"气天 {i}"} for i in range(100)],
    )
    assert found(api, user, "天气", limit=1) == [("n", 101)]


def test_letters_beyond_a_z_keep_their_case_however_many_come_first(api: Api, user: str) -> None:
    # MySQL/MariaDB's LOWER folds É as well: the store hands those over, the page skips them.
    add(api, user, "e", "éclair 1")
    add(api, user, "e", *(f"Éclair {i}" for i in range(2, 12)))
    assert found(api, user, "éclair", limit=1) == [("e", 1)]
    assert found(api, user, "ÉCLAIR", limit=3) == [("e", n) for n in range(11, 1, -1)]
    assert found(api, user, "ÉCLAIR 1") == [("e", 11), ("e", 10)]


def test_the_reply_cap_ends_a_page_early(serve: Any, store_kind: str) -> None:
    api = serve(store_kind, max_reply_bytes=300_000)
    user = api.new_user()
    big = "长" * 30_000  # about 90 KB as JSON, twice (msg and nothing else)
    add(api, user, "c", *(big + f" {i}" for i in range(6)))
    reply = ok(api, "/search_chats", user_id=user, query="长", limit=100)
    assert 1 <= len(reply["results"]) < 6 and reply["next_cursor"]
    assert found(api, user, "长", limit=100) == [("c", n) for n in range(6, 0, -1)]


def test_the_rules_of_a_search(api: Api, user: str) -> None:
    fails(api, "/search_chats", 1, user_id=user, query="")
    fails(api, "/search_chats", 6, user_id=user, query="x" * 101)
    ok(api, "/search_chats", user_id=user, query="x" * 100)
    fails(api, "/search_chats", 1, user_id=user, query="a\x00")
    fails(api, "/search_chats", 1, user_id=user, query="a", limit=0)
    fails(api, "/search_chats", 1, user_id=user, query="a", limit=101)
    assert fails(api, "/search_chats", 1, user_id=user, query="a", cursor="nonsense")[
        "failed"
    ].startswith("cursor:")
    names = ok(api, "/query_session_names", user_id=user, limit=1)
    assert names["next_cursor"] == ""
    fails(api, "/search_chats", 1, user_id=user, query="a", session_id="bad id!")
    fails(api, "/search_chats", 2, user_id="nobody-at-all", query="a")
    assert ok(api, "/search_chats", user_id=user, query="a")["results"] == []
