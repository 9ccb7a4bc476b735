"""A user's search digest (store/digest.py), on every store: a search that no message of
the user can match is answered from it, and it never hides a message that matches: what
was written after it was made, a message whose text /update_chat changed, a session made
again under a deleted one's id; /delete_sessions and /delete_user remove it; a digest made
from texts that changed meanwhile claims nothing. (``api`` digests from a user's first
search that reads all their messages: ``search_digest_from=0``.)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, text

from huihua.config import Settings
from huihua.service.search import add_to_digest
from huihua.store import digest, open_store
from huihua.store import queries as q
from huihua.store.engine import store_kind

from .helpers import ok
from .test_search import add, found

if TYPE_CHECKING:
    from conftest import Api


def _scalar(api: Api, sql: str, **params: Any) -> Any:
    engine = create_engine(store_kind(api.settings.database_url).url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def digest_parts(api: Api, user: str) -> int:
    return _scalar(api, "SELECT count(*) FROM search_digests WHERE user_id = :u", u=user)


def digested_seq(api: Api, user: str, session: str) -> int:
    return _scalar(
        api,
        "SELECT digested_seq FROM chat_sessions WHERE user_id = :u AND session_id = :s",
        u=user,
        s=session,
    )


def test_what_digest_py_holds() -> None:
    parts = digest.masks(["今天天气怎么样", "Sunny 😀"])
    for query in ("天气", "今天天气怎么样", "sunny", "SUNNY", "😀", "y 😀"):
        assert digest.may_contain(parts, digest.query_positions(query)), query
    for query in ("龘", "气天", "😁", "ys"):
        assert not digest.may_contain(parts, digest.query_positions(query)), query
    assert set(parts) <= set(range(digest.HEAD + 1, digest.PARTS))
    assert all(len(p) == digest.PART_BYTES for p in parts.values())
    # fixed values: changing the layout or the hash changes every stored digest
    assert digest.query_positions("天气") == {3: [6441, 3092], 91: [5009, 2088]}
    assert digest.merged(b"\x01\x00", b"\x04\x80") == b"\x05\x80"


def test_a_search_none_can_match_is_answered_from_the_digest(api: Api, user: str) -> None:
    add(api, user, "a", "今天天气很好", "我家的猫很可爱")
    add(api, user, "b", "明天下雨")
    assert digest_parts(api, user) == 0
    assert found(api, user, "龘") == []  # read everything: the digest is made
    assert digest_parts(api, user) > 0
    assert (digested_seq(api, user, "a"), digested_seq(api, user, "b")) == (2, 1)
    assert found(api, user, "气天") == []
    assert found(api, user, "天气") == [("a", 1)]
    # written since: the sessions' tails, searched by their signatures
    add(api, user, "b", "龘 is rare")
    add(api, user, "c", "Sunny 龘")
    assert found(api, user, "龘") == [("c", 1), ("b", 2)]
    assert found(api, user, "龘", session_id="b") == [("b", 2)]
    assert found(api, user, "sunny") == [("c", 1)]
    assert found(api, user, "龘", limit=1) == [("c", 1), ("b", 2)]  # paged
    # that search read everything again: what waited is in the digest now
    assert (digested_seq(api, user, "b"), digested_seq(api, user, "c")) == (2, 1)
    assert found(api, user, "龘") == [("c", 1), ("b", 2)]


def test_a_changed_message_is_found_by_its_new_text(api: Api, user: str) -> None:
    turn = [{"role": "user", "msg": "讲个笑话"}, {"role": "ai", "msg": "旧的回答"}]
    ok(api, "/add_chats", user_id=user, session_id="s", chats=turn)
    add(api, user, "s", "再来一个")
    assert found(api, user, "龘") == []
    assert digested_seq(api, user, "s") == 3
    ok(api, "/update_chat", user_id=user, session_id="s", seq=2, msg="新的回答 龘")
    assert digested_seq(api, user, "s") == 1  # from seq 2 on, searched as it is now
    assert found(api, user, "龘") == [("s", 2)]
    assert found(api, user, "新的") == [("s", 2)]
    assert found(api, user, "旧的") == []
    # a change that leaves the text as it is moves nothing
    ok(api, "/update_chat", user_id=user, session_id="s", seq=2, status="complete")
    assert found(api, user, "新的") == [("s", 2)]


def test_a_session_made_again_under_a_deleted_ones_id(api: Api, user: str) -> None:
    add(api, user, "s", "苹果", "香蕉")
    assert found(api, user, "龘") == []
    assert digested_seq(api, user, "s") == 2
    ok(api, "/delete_specific_session", user_id=user, session_id="s")
    add(api, user, "s", "龘 一", "龘 二")
    assert digested_seq(api, user, "s") == 0
    assert found(api, user, "龘") == [("s", 2), ("s", 1)]
    assert found(api, user, "苹果") == []


def test_deleting_all_sessions_or_the_user_removes_the_digest(api: Api, user: str) -> None:
    add(api, user, "s", "苹果")
    assert found(api, user, "龘") == []
    assert digest_parts(api, user) > 0
    ok(api, "/delete_sessions", user_id=user)
    assert digest_parts(api, user) == 0
    add(api, user, "t", "香蕉")
    assert found(api, user, "龘") == []
    assert digest_parts(api, user) > 0
    ok(api, "/delete_user", user_id=user)
    assert digest_parts(api, user) == 0


def test_no_digest_below_its_threshold(serve: Any, store_kind: str) -> None:
    api = serve(store_kind, search_digest_from=5)
    user = api.new_user()
    add(api, user, "s", "一", "二", "三", "四")
    assert found(api, user, "龘") == []
    assert digest_parts(api, user) == 0
    add(api, user, "s", "五")
    assert found(api, user, "天") == []
    assert digest_parts(api, user) > 0
    assert digested_seq(api, user, "s") == 5


def _settings(api: Api) -> Settings:
    return Settings(database_url=api.settings.database_url)


@pytest.mark.parametrize("change", ["update_chat", "delete_and_make_again"])
def test_a_digest_of_texts_that_changed_meanwhile_claims_nothing(
    api: Api, user: str, change: str
) -> None:
    turn = [{"role": "user", "msg": "问题"}, {"role": "ai", "msg": "旧文"}]
    ok(api, "/add_chats", user_id=user, session_id="s", chats=turn)
    add(api, user, "t", "别的")

    async def interleaved() -> int:
        store = open_store(_settings(api))
        try:
            sessions, texts = await store.read(lambda db: q.digest_texts(db, user, 100))
            if change == "update_chat":  # the text read is no longer the message's
                ok(api, "/update_chat", user_id=user, session_id="s", seq=2, msg="新文 龘")
            else:
                ok(api, "/delete_specific_session", user_id=user, session_id="s")
                add(api, user, "s", "新文 龘", "新文 二")
            masks = digest.masks(texts)
            return await store.write(lambda db: q.apply_digest(db, user, sessions, masks))
        finally:
            store.close()

    moved = asyncio.run(interleaved())
    assert moved == 1  # "t" only
    assert digested_seq(api, user, "t") == 1
    assert digested_seq(api, user, "s") == 0
    expected = [("s", 2)] if change == "update_chat" else [("s", 1)]
    assert found(api, user, "龘") == expected


def test_add_to_digest_takes_at_most_what_it_is_given(api: Api, user: str) -> None:
    add(api, user, "a", *[f"第{i}条" for i in range(5)])
    add(api, user, "b", *[f"第{i}条" for i in range(5)])

    async def step(most: int) -> int:
        store = open_store(_settings(api))
        try:
            return await add_to_digest(store, user, most)
        finally:
            store.close()

    assert asyncio.run(step(3)) == 1
    assert (digested_seq(api, user, "a"), digested_seq(api, user, "b")) == (3, 0)
    assert asyncio.run(step(4)) == 2
    assert (digested_seq(api, user, "a"), digested_seq(api, user, "b")) == (5, 2)
    assert found(api, user, "龘") == []
    assert found(api, user, "第4条") == [("b", 5), ("a", 5)]
