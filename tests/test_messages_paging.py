"""Deletes never give a seq again; paging forward with after_seq meets paging back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .helpers import fails, ok
from .messages_cases import chats, read, session_row, turn

if TYPE_CHECKING:
    from conftest import Api


# -- deleting and paging ----------------------------------------------------------------------


def test_a_seq_is_never_given_again_after_a_delete(api: Api, user: str) -> None:
    sid = turn(api, user, [{"role": "user", "msg": str(i)} for i in range(3)])["session_id"]
    assert ok(api, "/delete_chat", user_id=user, session_id=sid, seq=3)["deleted"] == 1
    assert session_row(api, user, sid)["chat_count"] == 2
    assert ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg="x")["seq"] == 4
    assert turn(api, user, [{"role": "user", "msg": "y"}] * 2, session_id=sid)["seqs"] == [5, 6]
    assert [m["seq"] for m in chats(api, user, sid)] == [1, 2, 4, 5, 6]
    fails(api, "/delete_chat", 2, user_id=user, session_id=sid, seq=3)


def test_delete_chat_from_seq_takes_that_message_and_every_later_one(api: Api, user: str) -> None:
    sid = turn(api, user, [{"role": "user", "msg": str(i)} for i in range(8)])["session_id"]
    ok(api, "/delete_chat", user_id=user, session_id=sid, seq=2)
    assert ok(api, "/delete_chat", user_id=user, session_id=sid, from_seq=5)["deleted"] == 4
    assert [m["seq"] for m in chats(api, user, sid)] == [1, 3, 4]
    assert session_row(api, user, sid)["chat_count"] == 3
    fails(api, "/delete_chat", 2, user_id=user, session_id=sid, from_seq=5)
    assert ok(api, "/delete_chat", user_id=user, session_id=sid, from_seq=2)["deleted"] == 2
    assert ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg="x")["seq"] == 9
    fails(api, "/delete_chat", 1, user_id=user, session_id=sid)
    fails(api, "/delete_chat", 1, user_id=user, session_id=sid, seq=1, from_seq=1)
    fails(api, "/delete_chat", 2, user_id=user, session_id="nope", seq=1)


def test_paging_forward_meets_paging_back(api: Api, user: str) -> None:
    sid = turn(api, user, [{"role": "user", "msg": str(i)} for i in range(30)])["session_id"]
    ok(api, "/delete_chat", user_id=user, session_id=sid, seq=11)
    everything = [m["seq"] for m in chats(api, user, sid)]
    assert len(everything) == 29
    forward: list[int] = []
    after, more = 0, True
    while more:
        page = read(api, user, sid, after_seq=after, limit=4)
        forward += [m["seq"] for m in page["chats"]]
        more = page["has_more"]
        after = forward[-1]
    back: list[int] = []
    page = read(api, user, sid, limit=4)
    back = [m["seq"] for m in page["chats"]]
    while page["has_more"]:
        page = read(api, user, sid, before_seq=back[0], limit=4)
        back = [m["seq"] for m in page["chats"]] + back
    assert forward == back == everything
    # from the middle, each way, they meet with nothing missed or repeated
    older = read(api, user, sid, before_seq=15, limit=1000)
    newer = read(api, user, sid, after_seq=14, limit=1000)
    assert [m["seq"] for m in older["chats"] + newer["chats"]] == everything
    assert not older["has_more"] and not newer["has_more"]
    assert read(api, user, sid, after_seq=30)["chats"] == []
    fails(api, "/query_session_info", 1, user_id=user, session_id=sid, after_seq=1, before_seq=5)
