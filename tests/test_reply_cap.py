"""The reply cap of API.md §3: a page of messages stays within 4 MiB, on every store.

A session of 1,000 messages of 65,536 characters (64 MiB of text) read whole would be a
reply of 64 MiB: the page keeps the newest messages that fit (paging back) or the oldest
(with after_seq), says ``has_more``, and the next page goes on from there with nothing
missed or repeated. A page always holds one message, however small the cap. The memory a
capped read takes is measured in bench/ (bench/reply_cap.py), not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .helpers import ok

if TYPE_CHECKING:
    from conftest import Api

MESSAGES = 1_000
CHARS = 65_536
PER_CALL = 15  # 15 messages of 64 K characters fit a 1 MiB body
CAP = 4 * 1_048_576


def text(seq: int) -> str:
    head = f"#{seq}:"
    return head + "x" * (CHARS - len(head))


@pytest.fixture(scope="module")
def big_session(api: Api) -> tuple[Api, str, str]:
    user = api.new_user()
    sid = "big"
    for first in range(1, MESSAGES + 1, PER_CALL):
        last = min(first + PER_CALL, MESSAGES + 1)
        batch = [{"role": "user", "msg": text(seq)} for seq in range(first, last)]
        reply = ok(api, "/add_chats", user_id=user, session_id=sid, chats=batch)
        assert reply["seqs"] == list(range(first, last))
    return api, user, sid


def page(api: Api, user: str, sid: str, **more: Any) -> dict[str, Any]:
    response = api.post("/query_session_info", {"user_id": user, "session_id": sid, **more})
    assert len(response.content) <= CAP, len(response.content)
    body = response.json()
    assert body["ok"] == 0, body["failed"]
    for chat in body["chats"]:
        assert chat["msg"] == text(chat["seq"])
    return body


def test_paging_back_keeps_the_newest_that_fit(big_session: tuple[Api, str, str]) -> None:
    api, user, sid = big_session
    first = page(api, user, sid)
    got = [c["seq"] for c in first["chats"]]
    assert first["has_more"] and 30 < len(got) < 64, len(got)
    assert got == list(range(MESSAGES - len(got) + 1, MESSAGES + 1))  # the right end dropped
    seen = got
    body = first
    while body["has_more"]:
        body = page(api, user, sid, before_seq=seen[0])
        seen = [c["seq"] for c in body["chats"]] + seen
    assert seen == list(range(1, MESSAGES + 1))


def test_paging_forward_keeps_the_oldest_that_fit(big_session: tuple[Api, str, str]) -> None:
    api, user, sid = big_session
    seen: list[int] = []
    body = {"has_more": True}
    while body["has_more"]:
        body = page(api, user, sid, after_seq=seen[-1] if seen else 0)
        got = [c["seq"] for c in body["chats"]]
        assert got and got[0] == (seen[-1] + 1 if seen else 1)
        seen += got
    assert seen == list(range(1, MESSAGES + 1))
    assert not page(api, user, sid, after_seq=MESSAGES)["chats"]


def test_a_limit_under_the_cap_is_kept(big_session: tuple[Api, str, str]) -> None:
    api, user, sid = big_session
    body = page(api, user, sid, limit=10, before_seq=500)
    assert [c["seq"] for c in body["chats"]] == list(range(490, 500)) and body["has_more"]


def test_a_page_always_holds_one_message(serve, store_kind: str) -> None:
    api = serve(store_kind, max_reply_bytes=1_000)
    user = api.new_user()
    big = "😀" * CHARS  # 256 KiB of UTF-8, far over this server's cap
    sid = ok(api, "/add_chats", user_id=user, chats=[{"role": "user", "msg": big}] * 3)[
        "session_id"
    ]
    cases: list[tuple[dict[str, int], int, bool]] = [
        ({}, 3, True),
        ({"before_seq": 3}, 2, True),
        ({"before_seq": 2}, 1, False),
        ({"after_seq": 0}, 1, True),
        ({"after_seq": 2}, 3, False),
    ]
    for ask, seq, more in cases:
        body = ok(api, "/query_session_info", user_id=user, session_id=sid, **ask)
        assert [c["seq"] for c in body["chats"]] == [seq], ask
        assert body["chats"][0]["msg"] == big
        assert body["has_more"] is more, ask
