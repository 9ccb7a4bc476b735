"""A user's search digest (store/search/digest.py), on every store: a search that no message of
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
from huihua.store import open_store, search
from huihua.store.engine import store_kind
from huihua.store.search import digest, signature, slices

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


@pytest.mark.parametrize("change", ["update_chat", "delete_chat", "delete_and_make_again"])
def test_a_digest_of_texts_that_changed_meanwhile_writes_nothing(
    api: Api, user: str, change: str
) -> None:
    turn = [{"role": "user", "msg": "问题"}, {"role": "ai", "msg": "旧文"}]
    ok(api, "/add_chats", user_id=user, session_id="s", chats=turn)
    add(api, user, "t", "别的")

    async def interleaved() -> None:
        store = open_store(_settings(api))
        try:
            made = await store.read(lambda db: search.gather(db, user, 100))
            if change == "update_chat":  # the text read is no longer the message's
                ok(api, "/update_chat", user_id=user, session_id="s", seq=2, msg="新文 龘")
            elif change == "delete_chat":  # nothing of it may outlive it
                ok(api, "/delete_chat", user_id=user, session_id="s", seq=2)
            else:
                ok(api, "/delete_specific_session", user_id=user, session_id="s")
                add(api, user, "s", "新文 龘", "新文 二")
            with pytest.raises(search.DigestRaced):
                await store.write(lambda db: search.extend(db, user, made))
        finally:
            store.close()

    asyncio.run(interleaved())
    assert digest_parts(api, user) == 0  # rolled back: "t" too
    assert (digested_seq(api, user, "s"), digested_seq(api, user, "t")) == (0, 0)
    expected = {"update_chat": [("s", 2)], "delete_chat": [], "delete_and_make_again": [("s", 1)]}
    assert found(api, user, "龘") == expected[change]
    assert found(api, user, "旧文") == []


def test_deleting_a_message_or_a_session_deletes_the_digest(api: Api, user: str) -> None:
    add(api, user, "s", "苹果", "香蕉")
    add(api, user, "t", "橘子")
    assert found(api, user, "龘") == []
    assert digest_parts(api, user) > 0
    ok(api, "/delete_chat", user_id=user, session_id="s", seq=2)
    assert digest_parts(api, user) == 0
    assert found(api, user, "香蕉") == []  # read everything: made again
    assert digest_parts(api, user) > 0
    ok(api, "/delete_specific_session", user_id=user, session_id="t")
    assert digest_parts(api, user) == 0
    assert found(api, user, "橘子") == []
    assert found(api, user, "苹果") == [("s", 1)]


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


def test_slices_place_and_find_positions_across_blocks() -> None:
    sigs = {p: signature.signature(f"第{p}条") for p in range(3)}
    sliced = slices.transpose(sigs.items())
    base = slices.BLOCK - 2  # the last two positions of block 0, the first of block 1
    parts = {part: slices.as_bytes(value) for part, value in slices.placed_at(sliced, base).items()}
    runs = slices.runs_by_block("s", 10, base, 3)
    assert runs == [(0, ("s", 10, base, 2)), (1, ("s", 12, base + 2, 1))]
    for block, run in runs:
        parts[slices.directory_part(block)] = slices.encode_runs([run])
    for p, seq in ((0, 10), (1, 11), (2, 12)):
        bits = slices.query_bits(f"第{p}条")
        found = slices.survivors(parts, bits, 2)
        assert found is not None
        assert (("s", seq)) in slices.keys(found, parts)
    assert slices.survivors(parts, [], 2) is None  # nothing to test by: the walk
    end = 2 * slices.BLOCK + 1
    assert slices.next_position(slices.head(end)) == end
    assert slices.blocks(slices.head(end)) == 3


def test_many_messages_across_blocks_in_two_steps(api: Api, user: str) -> None:
    for s, count in (("a", 1500), ("b", 700)):
        for first in range(0, count, 100):
            chats = [{"role": "user", "msg": f"第{s}{n}条 天气"} for n in range(first, first + 100)]
            ok(api, "/add_chats", user_id=user, session_id=s, chats=chats)
    assert found(api, user, "龘") == []  # digests 2,000 of the 2,200
    assert (digested_seq(api, user, "a"), digested_seq(api, user, "b")) == (1500, 500)
    assert found(api, user, "龘") == []  # and the rest
    assert digested_seq(api, user, "b") == 700
    # sparse hits: by the slices (a block's edge: test_slices_place_and_find_positions_…)
    for n in (545, 546, 547, 548, 699):
        assert found(api, user, f"第b{n}条") == [("b", n + 1)], n
    assert found(api, user, "第a0条") == [("a", 1)]
    # a common word: too many survivors, the walk; pages exact
    page = ok(api, "/search_chats", user_id=user, query="天气", limit=100)
    assert [r["seq"] for r in page["results"]][:3] == [700, 699, 698]
    assert page["next_cursor"]
    # longer, as common: too many survivors as well, the walk
    everything = found(api, user, "条 天气", limit=100)
    assert len(everything) == len(set(everything)) == 2200
    assert everything[:2] == [("b", 700), ("b", 699)]


def test_a_sparse_hit_among_many_and_its_pages(api: Api, user: str) -> None:
    chats = [{"role": "user", "msg": f"普通的话 {n}"} for n in range(100)]
    for _ in range(3):
        ok(api, "/add_chats", user_id=user, session_id="a", chats=chats)
    add(api, user, "b", "稀有词 一", "稀有词 二", "稀有词 三")
    for _ in range(3):
        ok(api, "/add_chats", user_id=user, session_id="c", chats=chats)
    assert found(api, user, "龘") == []
    assert found(api, user, "稀有词", limit=1) == [("b", 3), ("b", 2), ("b", 1)]
    assert found(api, user, "稀有词", limit=2, session_id="b") == [("b", 3), ("b", 2), ("b", 1)]
    ok(api, "/delete_chat", user_id=user, session_id="b", seq=2)
    assert found(api, user, "稀有词") == [("b", 3), ("b", 1)]
    add(api, user, "b", "稀有词 四")  # a tail beside what the digest holds
    assert found(api, user, "稀有词", limit=1) == [("b", 4), ("b", 3), ("b", 1)]
