"""/export_user_data (API.md §5.5): a user's data, whole, streamed from one snapshot, on
every store.

The document is what the reads give, put together: the user as /query_user_info gives it,
every session as /query_session_names lists it, with its chats as /query_session_info gives
them (every field that is set). It is read as of one moment: writes that land while it is
being sent are not in it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .helpers import fails, ok

if TYPE_CHECKING:
    from conftest import Api


def envelope_free(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k not in ("request_id", "ok", "failed")}


def test_the_export_is_what_the_reads_give(api: Api) -> None:
    user = api.new_user(avatar_url="https://a.example/a.png", gender=1)
    ok(
        api,
        "/add_chats",
        user_id=user,
        session_id="s1",
        chats=[
            {"role": "system", "msg": "be terse"},
            {"role": "user", "msg": "看图", "parts": [{"type": "image", "url": "cloud://x/y.jpg"}]},
            {"role": "ai", "msg": "", "status": "streaming", "reasoning": "嗯", "meta": {"m": 1}},
        ],
    )
    ok(api, "/update_chat", user_id=user, session_id="s1", seq=3, msg="一只猫")
    ok(
        api,
        "/add_chats",
        user_id=user,
        session_id="s2",
        chats=[
            {"role": "user", "msg": "time?"},
            {
                "role": "ai",
                "msg": "",
                "tool_calls": [{"id": "c", "name": "clock", "arguments": "{}"}],
            },
            {"role": "tool", "msg": "12:00", "tool_call_id": "c", "name": "clock"},
        ],
    )
    ok(api, "/delete_chat", user_id=user, session_id="s2", seq=1)
    ok(api, "/pin_session", user_id=user, session_id="s1", pinned=True)  # first, though older
    response = api.post("/export_user_data", {"user_id": user, "request_id": "exp-1"})
    assert response.status_code == 200
    body = response.json()
    assert (body["request_id"], body["ok"], body["failed"]) == ("exp-1", 0, "")
    assert body["user"] == envelope_free(ok(api, "/query_user_info", user_id=user))
    listed = ok(api, "/query_session_names", user_id=user)["sessions"]
    assert [{k: v for k, v in s.items() if k != "chats"} for s in body["sessions"]] == listed
    for session in body["sessions"]:
        info = ok(api, "/query_session_info", user_id=user, session_id=session["session_id"])
        assert session["chats"] == info["chats"]
    assert [(s["session_id"], s["pinned"]) for s in body["sessions"]] == [
        ("s1", True),
        ("s2", False),
    ]
    assert [m["seq"] for m in body["sessions"][0]["chats"]] == [1, 2, 3]
    assert [m["seq"] for m in body["sessions"][1]["chats"]] == [2, 3]


def test_a_user_with_nothing_and_no_user(api: Api) -> None:
    user = api.new_user()
    body = ok(api, "/export_user_data", user_id=user)
    assert body["sessions"] == [] and body["user"]["user_id"] == user
    fails(api, "/export_user_data", 2, user_id="nobody-at-all")


def test_the_export_is_one_moment_whatever_is_written_meanwhile(api: Api) -> None:
    user = api.new_user()
    text = "字" * 4_000
    for s in range(4):
        chats = [{"role": "user", "msg": f"{s}-{i} {text}"} for i in range(60)]
        ok(api, "/add_chats", user_id=user, session_id=f"s{s}", chats=chats)
    before = ok(api, "/query_session_names", user_id=user)["sessions"]
    with api.http.stream("POST", "/export_user_data", json={"user_id": user}) as response:
        assert response.status_code == 200
        parts = response.iter_bytes()
        received = [next(parts)]  # the export has begun: its snapshot is taken
        ok(api, "/add_chat", user_id=user, session_id="s0", role="user", msg="later")
        ok(api, "/add_chat", user_id=user, session_id="s-new", role="user", msg="later")
        ok(api, "/delete_specific_session", user_id=user, session_id="s3")
        received += list(parts)
    body = json.loads(b"".join(received))
    assert [s["session_id"] for s in body["sessions"]] == [s["session_id"] for s in before]
    assert [len(s["chats"]) for s in body["sessions"]] == [60, 60, 60, 60]
    assert all("later" not in c["msg"] for s in body["sessions"] for c in s["chats"])
