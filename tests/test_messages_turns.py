"""A turn of messages is written whole or not at all, and titles its session."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .helpers import fails, ok
from .messages_cases import chats, read, session_row, turn

if TYPE_CHECKING:
    from conftest import Api


# -- whole turns ------------------------------------------------------------------------------


def test_a_turn_with_one_invalid_message_writes_nothing(api: Api, user: str) -> None:
    bad = [{"role": "user", "msg": "q"}, {"role": "ai", "msg": "a" * 65_537}]
    fails(api, "/add_chats", 6, user_id=user, session_id="t1", chats=bad)
    fails(api, "/query_session_info", 2, user_id=user, session_id="t1")
    turn(api, user, [{"role": "user", "msg": "q"}], session_id="t1")
    fails(
        api,
        "/add_chats",
        1,
        user_id=user,
        session_id="t1",
        chats=[{"role": "user", "msg": "q2"}, {"role": "tool", "msg": "r"}],
    )
    assert [m["seq"] for m in chats(api, user, "t1")] == [1]
    assert turn(api, user, [{"role": "user", "msg": "q3"}], session_id="t1")["seqs"] == [2]


def test_a_turn_holds_one_to_a_hundred_messages(api: Api, user: str) -> None:
    fails(api, "/add_chats", 1, user_id=user, chats=[])
    many = [{"role": "user", "msg": str(i)} for i in range(101)]
    fails(api, "/add_chats", 6, user_id=user, chats=many)
    reply = turn(api, user, many[:100])
    assert reply["seqs"] == list(range(1, 101))
    assert session_row(api, user, reply["session_id"])["chat_count"] == 100


def test_an_unknown_user_gets_ok_2_and_nothing_is_made(api: Api) -> None:
    fails(
        api,
        "/add_chats",
        2,
        user_id="nobody-" + str(time.time_ns()),
        chats=[{"role": "user", "msg": "q"}],
    )


# -- titles -----------------------------------------------------------------------------------


def test_the_title_comes_from_the_first_user_message_that_is_not_blank(api: Api, user: str) -> None:
    sid = turn(
        api, user, [{"role": "system", "msg": "be terse"}, {"role": "user", "msg": " \n\t"}]
    )["session_id"]
    assert read(api, user, sid)["session_title"] == ""
    ok(api, "/add_chat", user_id=user, session_id=sid, role="ai", msg="What do you want?")
    assert read(api, user, sid)["session_title"] == ""
    ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg="  Weather   in\nParis  ")
    assert read(api, user, sid)["session_title"] == "Weather in Paris"
    ok(api, "/delete_chat", user_id=user, session_id=sid, seq=4)
    ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg="other")
    assert read(api, user, sid)["session_title"] == "Weather in Paris"
