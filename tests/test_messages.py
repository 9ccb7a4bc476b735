"""Messages as AI apps write them (API.md §5.1, §5.2, after_seq of §5.3), on every store.

Every field round-trips; a turn is written whole or not at all; a streaming placeholder is
finished by /update_chat while other appends land; updates and deletes keep the session's
seqs (never reused) and its place in the list as the contract says.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from .helpers import TIMESTAMP, fails, next_millisecond, ok

if TYPE_CHECKING:
    from conftest import Api

FOUR_BYTES = "😀𠀀"  # characters outside the BMP: four bytes in UTF-8, two UTF-16 units
SEED_KEYS = {"role", "msg", "seq", "created_at", "meta"}


def read(api: Api, user_id: str, session_id: str, **more: Any) -> dict[str, Any]:
    return ok(api, "/query_session_info", user_id=user_id, session_id=session_id, **more)


def chats(api: Api, user_id: str, session_id: str, **more: Any) -> list[dict[str, Any]]:
    return read(api, user_id, session_id, **more)["chats"]


def turn(api: Api, user_id: str, messages: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return ok(api, "/add_chats", user_id=user_id, chats=messages, **more)


def session_row(api: Api, user_id: str, session_id: str) -> dict[str, Any]:
    rows = ok(api, "/query_session_names", user_id=user_id)["sessions"]
    (row,) = [r for r in rows if r["session_id"] == session_id]
    return row


# -- every field, exactly ---------------------------------------------------------------------


def full_turn() -> list[dict[str, Any]]:
    long = ("x" + FOUR_BYTES) * (65_536 // 3) + "y"
    assert len(long) == 65_536
    return [
        {"role": "system", "msg": "You are terse. " + FOUR_BYTES},
        {
            "role": "user",
            "msg": "",
            "parts": [
                {
                    "type": "image",
                    "url": "https://cdn.example.com/a.png",
                    "mime": "image/png",
                    "name": "a.png",
                    "size": 1234,
                    "width": 640,
                    "height": 480,
                },
                {"type": "audio", "url": "cloud://env-1.bucket/voice.silk", "duration_ms": 0},
            ],
            "meta": {"client_msg_id": "c-1", "nested": {"k": [1, 2.5, None, True]}},
        },
        {
            "role": "ai",
            "msg": "",
            "reasoning": long,
            "tool_calls": [
                {"id": "call_1", "name": "weather", "arguments": long},
                {"id": "call_2", "name": "clock", "arguments": "{}"},
            ],
        },
        {
            "role": "tool",
            "msg": "晴 25°C " + FOUR_BYTES,
            "tool_call_id": "call_1",
            "name": "weather",
        },
        {"role": "tool", "msg": "12:00", "tool_call_id": "call_2"},
        {"role": "ai", "msg": "It is sunny.", "status": "cancelled", "meta": {"model": "m"}},
    ]


def expected(sent: dict[str, Any]) -> dict[str, Any]:
    """What a read gives back for a message sent: every field given, and meta always."""
    return {"meta": None, **{k: v for k, v in sent.items() if v not in (None, "complete")}}


def test_every_field_round_trips_exactly(api: Api, user: str) -> None:
    sent = full_turn()
    reply = turn(api, user, sent)
    assert reply["seqs"] == [1, 2, 3, 4, 5, 6], reply
    assert TIMESTAMP.match(reply["created_at"])
    got = chats(api, user, reply["session_id"])
    for message, want in zip(got, sent, strict=True):
        assert TIMESTAMP.match(message.pop("created_at"))
        message.pop("seq")
        assert message == expected(want)
    # Each field again through /add_chat, one message per call.
    for i, message in enumerate(sent, start=7):
        one = ok(api, "/add_chat", user_id=user, session_id=reply["session_id"], **message)
        assert one["seq"] == i
    again = chats(api, user, reply["session_id"], after_seq=6)
    assert [{k: v for k, v in m.items() if k not in ("seq", "created_at")} for m in again] == [
        expected(m) for m in sent
    ]


def test_a_plain_message_reads_as_the_seed_says(api: Api, user: str) -> None:
    sid = ok(api, "/add_chat", user_id=user, role="user", msg="hi")["session_id"]
    (message,) = chats(api, user, sid)
    assert set(message) == SEED_KEYS, message


@pytest.mark.parametrize(
    ("message", "code", "field"),
    [
        ({"role": "user", "msg": ""}, 1, "msg"),
        ({"role": "system", "msg": ""}, 1, "msg"),
        ({"role": "user", "msg": "x", "reasoning": "r"}, 1, "reasoning"),
        ({"role": "user", "msg": "x", "status": "streaming"}, 1, "status"),
        ({"role": "tool", "msg": "x"}, 1, "tool_call_id"),
        ({"role": "ai", "msg": "x", "tool_call_id": "c"}, 1, "tool_call_id"),
        ({"role": "ai", "msg": "x", "name": "n"}, 1, "name"),
        (
            {"role": "user", "msg": "x", "tool_calls": [{"id": "a", "name": "b", "arguments": ""}]},
            1,
            "tool_calls",
        ),
        (
            {
                "role": "user",
                "msg": "",
                "parts": [{"type": "image", "url": "data:image/png;base64,AA"}],
            },
            1,
            "parts[0].url",
        ),
        (
            {"role": "user", "msg": "", "parts": [{"type": "image", "url": "http://a.example/x"}]},
            1,
            "parts[0].url",
        ),
        (
            {"role": "user", "msg": "", "parts": [{"type": "photo", "url": "https://a.example/x"}]},
            1,
            "parts[0].type",
        ),
        (
            {
                "role": "user",
                "msg": "",
                "parts": [{"type": "image", "url": "https://a.example/x", "size": -1}],
            },
            1,
            "parts[0].size",
        ),
        (
            {"role": "user", "msg": "", "parts": [{"type": "image", "url": "https://a/x", "x": 1}]},
            1,
            "parts[0].x",
        ),
        (
            {
                "role": "user",
                "msg": "",
                "parts": [{"type": "file", "url": "https://a.example/x"}] * 17,
            },
            6,
            "parts",
        ),
        (
            {
                "role": "user",
                "msg": "",
                "parts": [{"type": "file", "url": "https://a.example/" + "x" * 2048}],
            },
            6,
            "parts[0].url",
        ),
        (
            {
                "role": "ai",
                "msg": "",
                "tool_calls": [{"id": "a", "name": "b", "arguments": ""}] * 33,
            },
            6,
            "tool_calls",
        ),
        (
            {"role": "ai", "msg": "", "tool_calls": [{"id": "", "name": "b", "arguments": ""}]},
            1,
            "tool_calls[0].id",
        ),
        ({"role": "ai", "msg": "x", "reasoning": "r" * 65_537}, 6, "reasoning"),
        ({"role": "robot", "msg": "x"}, 1, "role"),
        ({"role": "ai", "msg": "x", "status": "done"}, 1, "status"),
    ],
)
def test_a_message_that_breaks_a_rule_is_refused(
    api: Api, user: str, message: dict[str, Any], code: int, field: str
) -> None:
    body = fails(api, "/add_chat", code, user_id=user, **message)
    assert body["failed"].startswith(field + ":"), body
    body = fails(
        api, "/add_chats", code, user_id=user, chats=[{"role": "user", "msg": "q"}, message]
    )
    assert body["failed"].startswith(f"chats[1].{field}:"), body


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "msg": "", "parts": [{"type": "image", "url": "HTTPS://a.example/x"}]},
        {"role": "ai", "msg": "", "tool_calls": [{"id": "a", "name": "b", "arguments": ""}]},
        {"role": "ai", "msg": "", "status": "streaming"},
        {"role": "ai", "msg": "", "status": "failed"},
        {
            "role": "tool",
            "msg": "",
            "tool_call_id": "a",
            "parts": [{"type": "file", "url": "cloud://f"}],
        },
    ],
)
def test_msg_may_be_empty_where_the_contract_allows(
    api: Api, user: str, message: dict[str, Any]
) -> None:
    ok(api, "/add_chat", user_id=user, **message)


def test_session_ids_may_hold_dots_and_colons(api: Api, user: str) -> None:
    sid = f"user:{user[-8:]}:chat.1"
    assert (
        ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg="x")["session_id"]
        == sid
    )
    fails(api, "/add_chat", 1, user_id=user, session_id="a/b", role="user", msg="x")


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


# -- streaming replies ------------------------------------------------------------------------


def test_a_placeholder_is_finished_while_other_appends_land(api: Api, user: str) -> None:
    started = turn(
        api, user, [{"role": "user", "msg": "q"}, {"role": "ai", "msg": "", "status": "streaming"}]
    )
    sid = started["session_id"]
    assert started["seqs"] == [1, 2]
    (placeholder,) = chats(api, user, sid, after_seq=1)
    assert placeholder["status"] == "streaming" and placeholder["msg"] == ""

    def append(i: int) -> int:
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            body = http.post(
                "/add_chat",
                json={"user_id": user, "session_id": sid, "role": "user", "msg": f"m{i}"},
            ).json()
        assert body["ok"] == 0, body
        return body["seq"]

    def finish() -> dict[str, Any]:
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            return http.post(
                "/update_chat",
                json={
                    "user_id": user,
                    "session_id": sid,
                    "seq": 2,
                    "msg": "the answer",
                    "reasoning": "because",
                    "status": "complete",
                },
            ).json()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        appended = [pool.submit(append, i) for i in range(20)]
        finished = pool.submit(finish)
        seqs = sorted(f.result() for f in appended)
        done = finished.result()
    assert done["ok"] == 0 and done["seq"] == 2 and TIMESTAMP.match(done["updated_at"]), done
    assert seqs == list(range(3, 23))
    messages = chats(api, user, sid)
    assert [m["seq"] for m in messages] == list(range(1, 23))
    answer = messages[1]
    assert answer["msg"] == "the answer" and answer["reasoning"] == "because"
    assert "status" not in answer and answer["updated_at"] == done["updated_at"]


def test_two_updates_of_one_message_at_once_end_as_one_after_the_other(api: Api, user: str) -> None:
    sid = turn(
        api, user, [{"role": "user", "msg": "q"}, {"role": "ai", "msg": "", "status": "streaming"}]
    )["session_id"]

    def update(i: int) -> dict[str, Any]:
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            body = {
                "user_id": user,
                "session_id": sid,
                "seq": 2,
                "msg": f"answer {i}",
                "reasoning": f"thought {i}",
                "meta": {"i": i},
            }
            return http.post("/update_chat", json=body).json()

    for _ in range(3):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(update, (1, 2)))
        assert all(r["ok"] == 0 for r in replies), replies
        answer = chats(api, user, sid)[1]
        i = answer["meta"]["i"]
        assert answer["msg"] == f"answer {i}" and answer["reasoning"] == f"thought {i}", answer


def test_update_chat_replaces_fields_whole_and_checks_the_result(api: Api, user: str) -> None:
    sid = turn(
        api,
        user,
        [
            {"role": "user", "msg": "q"},
            {
                "role": "ai",
                "msg": "",
                "status": "streaming",
                "meta": {"a": 1, "b": 2},
                "tool_calls": [{"id": "c", "name": "n", "arguments": "{}"}],
            },
        ],
    )["session_id"]
    key = {"user_id": user, "session_id": sid}
    ok(api, "/update_chat", **key, seq=2, meta={"b": 3})
    assert chats(api, user, sid)[1]["meta"] == {"b": 3}
    ok(api, "/update_chat", **key, seq=2, tool_calls=[], msg="text", status="complete")
    answer = chats(api, user, sid)[1]
    assert "tool_calls" not in answer and "status" not in answer and answer["msg"] == "text"
    # a complete message with no parts or tool calls may not lose its text
    assert fails(api, "/update_chat", 1, **key, seq=2, msg="")["failed"].startswith("msg:")
    assert fails(api, "/update_chat", 1, **key, seq=2, msg=None)["failed"].startswith("msg:")
    ok(api, "/update_chat", **key, seq=2, meta=None, reasoning="")
    assert chats(api, user, sid)[1] == {
        **answer,
        "meta": None,
        "updated_at": chats(api, user, sid)[1]["updated_at"],
    }
    # finished is finished; failed and cancelled and complete move among themselves
    assert fails(api, "/update_chat", 11, **key, seq=2, status="streaming")["failed"].startswith(
        "status:"
    )
    ok(api, "/update_chat", **key, seq=2, status="failed")
    ok(api, "/update_chat", **key, seq=2, status="cancelled")
    ok(api, "/update_chat", **key, seq=2, status=None)
    assert "status" not in chats(api, user, sid)[1]
    # only ai messages; unknown ones are not found; a field is needed
    assert fails(api, "/update_chat", 11, **key, seq=1, msg="x")["failed"].startswith("seq:")
    fails(api, "/update_chat", 2, **key, seq=3, msg="x")
    fails(api, "/update_chat", 2, user_id=user, session_id="nope", seq=1, msg="x")
    fails(api, "/update_chat", 1, **key, seq=2)
    fails(api, "/update_chat", 1, **key, seq=2, role="user")


def test_update_moves_the_session_and_delete_does_not(api: Api, user: str) -> None:
    a = turn(
        api,
        user,
        [{"role": "user", "msg": "a"}, {"role": "ai", "msg": "x"}, {"role": "user", "msg": "y"}],
    )["session_id"]
    next_millisecond()
    b = turn(api, user, [{"role": "user", "msg": "b"}])["session_id"]

    def order() -> list[str]:
        rows = ok(api, "/query_session_names", user_id=user)["sessions"]
        return [s["session_id"] for s in rows]

    assert order() == [b, a]
    next_millisecond()
    ok(api, "/delete_chat", user_id=user, session_id=a, seq=3)
    assert order() == [b, a]
    next_millisecond()
    ok(api, "/update_chat", user_id=user, session_id=a, seq=2, msg="z")
    assert order() == [a, b]


def test_a_placeholder_left_streaming_reads_failed_until_finished(serve, store_kind: str) -> None:
    api = serve(store_kind, streaming_timeout=1)
    user = api.new_user()
    sid = turn(
        api, user, [{"role": "user", "msg": "q"}, {"role": "ai", "msg": "", "status": "streaming"}]
    )["session_id"]
    assert chats(api, user, sid)[1]["status"] == "streaming"
    deadline = time.monotonic() + 30
    while chats(api, user, sid)[1]["status"] == "streaming":
        assert time.monotonic() < deadline, "the placeholder never read as failed"
        time.sleep(0.05)
    assert chats(api, user, sid)[1]["status"] == "failed"
    ok(
        api,
        "/update_chat",
        user_id=user,
        session_id=sid,
        seq=2,
        msg="late answer",
        status="complete",
    )
    answer = chats(api, user, sid)[1]
    assert answer["msg"] == "late answer" and "status" not in answer


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
