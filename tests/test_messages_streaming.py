"""A streaming placeholder is finished by /update_chat while other appends land."""

from __future__ import annotations

import concurrent.futures
import time
from typing import TYPE_CHECKING, Any

import httpx

from .helpers import TIMESTAMP, fails, next_millisecond, ok
from .messages_cases import chats, turn

if TYPE_CHECKING:
    from conftest import Api


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
