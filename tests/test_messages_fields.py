"""Every field of a message round-trips exactly; a message that breaks a rule is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .helpers import TIMESTAMP, fails, ok
from .messages_cases import FOUR_BYTES, SEED_KEYS, chats, turn

if TYPE_CHECKING:
    from conftest import Api


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
