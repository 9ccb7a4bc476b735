"""The writes of API.md §5.2 under the shared rules: idempotency (§4) and the order of
errors (§1), on every store.

Each of /add_chats, /update_chat and /delete_chat: a retry with the same request_id gets the
recorded reply byte for byte and writes nothing more; the same id with another request is
ok 5 and writes nothing; identical requests in flight at once write once; the not-found and
not-applicable answers come before a conflict.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from .helpers import fails, ok

if TYPE_CHECKING:
    from conftest import Api

TURN = [{"role": "user", "msg": "q"}, {"role": "ai", "msg": "", "status": "streaming"}]


def rid() -> str:
    return f"r-{uuid.uuid4().hex}"


def seqs(api: Api, user: str, sid: str) -> list[tuple[int, str]]:
    reply = ok(api, "/query_session_info", user_id=user, session_id=sid)
    return [(m["seq"], m["msg"]) for m in reply["chats"]]


def new_session(api: Api, user: str) -> str:
    return ok(api, "/add_chats", user_id=user, chats=TURN * 3)["session_id"]


# Each write: the body it sends in a session of six messages (seq 2, 4, 6: ai placeholders),
# and another body that conflicts with it under one request id.
WRITES: dict[str, tuple[Callable[[str, str], dict], Callable[[str, str], dict]]] = {
    "/add_chats": (
        lambda u, s: {"user_id": u, "session_id": s, "chats": TURN},
        lambda u, s: {"user_id": u, "session_id": s, "chats": TURN[:1]},
    ),
    "/update_chat": (
        lambda u, s: {"user_id": u, "session_id": s, "seq": 2, "msg": "done", "status": "complete"},
        lambda u, s: {"user_id": u, "session_id": s, "seq": 4, "msg": "done"},
    ),
    "/delete_chat": (
        lambda u, s: {"user_id": u, "session_id": s, "from_seq": 5},
        lambda u, s: {"user_id": u, "session_id": s, "seq": 1},
    ),
}


@pytest.mark.parametrize("path", WRITES)
def test_a_retry_gets_the_recorded_reply_and_writes_nothing_more(
    api: Api, user: str, path: str
) -> None:
    sid = new_session(api, user)
    body = {**WRITES[path][0](user, sid), "request_id": rid()}
    first = api.post(path, body)
    assert first.json()["ok"] == 0, first.text
    after = seqs(api, user, sid)
    again = api.post(path, body)
    assert again.status_code == 200 and again.content == first.content
    assert seqs(api, user, sid) == after


@pytest.mark.parametrize("path", WRITES)
def test_the_same_request_id_for_another_request_is_a_conflict(
    api: Api, user: str, path: str
) -> None:
    sid = new_session(api, user)
    request_id = rid()
    ok(api, path, **WRITES[path][0](user, sid), request_id=request_id)
    after = seqs(api, user, sid)
    body = fails(api, path, 5, **WRITES[path][1](user, sid), request_id=request_id)
    assert body["failed"].startswith("request_id:"), body
    assert seqs(api, user, sid) == after


@pytest.mark.parametrize("path", WRITES)
def test_identical_requests_in_flight_write_once(api: Api, user: str, path: str) -> None:
    sid = new_session(api, user)
    body = {**WRITES[path][0](user, sid), "request_id": rid()}

    def send(_: int) -> bytes:
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            return http.post(path, json=body).content

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        replies = set(pool.map(send, range(10)))
    # one reply for all: a second run would have answered otherwise (new seqs; ok 2)
    assert len(replies) == 1, replies
    assert b'"ok":0' in replies.pop()
    after = [s for s, _ in seqs(api, user, sid)]
    assert (
        after
        == {
            "/add_chats": list(range(1, 9)),
            "/update_chat": list(range(1, 7)),
            "/delete_chat": [1, 2, 3, 4],
        }[path]
    )


def test_not_found_and_not_applicable_answer_before_a_conflict(api: Api, user: str) -> None:
    sid = new_session(api, user)
    request_id = rid()
    ok(api, "/delete_chat", user_id=user, session_id=sid, seq=6, request_id=request_id)
    key = {"user_id": user, "session_id": sid, "request_id": request_id}
    fails(api, "/update_chat", 11, **key, seq=1, msg="x")  # a user message
    fails(api, "/update_chat", 2, **key, seq=99, msg="x")
    fails(api, "/delete_chat", 2, **key, seq=99)
    fails(api, "/update_chat", 5, **key, seq=2, msg="x")


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        # every ok 1 beats every ok 6, whatever their order in the body
        (
            "/add_chats",
            {"chats": [{"role": "user", "msg": "m" * 65_537}, {"role": "x", "msg": "a"}]},
            1,
            "chats[1].role",
        ),
        (
            "/add_chats",
            {"chats": [{"role": "user", "msg": "m" * 65_537}, {"role": "tool", "msg": "a"}]},
            1,
            "chats[1].tool_call_id",
        ),
        (
            "/add_chats",
            {"chats": [{"role": "user", "msg": "a"}] * 101, "session_id": "a b"},
            1,
            "session_id",
        ),
        ("/add_chats", {"chats": [{"role": "user", "msg": "a", "extra": 1}]}, 1, "chats[0].extra"),
        ("/update_chat", {"session_id": "s", "seq": 0, "reasoning": "r" * 65_537}, 1, "seq"),
        (
            "/update_chat",
            {"session_id": "s", "seq": 1, "parts": [{"type": "image", "url": "ftp://x"}] * 17},
            1,
            "parts[0].url",
        ),
        (
            "/update_chat",
            {"session_id": "s", "seq": 1, "status": "streaming", "role": "ai"},
            1,
            "role",
        ),
        ("/delete_chat", {"session_id": "s" * 65, "seq": 0}, 1, "seq"),
        ("/query_session_info", {"session_id": "s", "after_seq": -1}, 1, "after_seq"),
        # ok 6 alone, before the user is looked up
        ("/add_chats", {"chats": [{"role": "user", "msg": "a"}] * 101}, 6, "chats"),
        ("/update_chat", {"session_id": "s", "seq": 1, "reasoning": "r" * 65_537}, 6, "reasoning"),
        ("/delete_chat", {"session_id": "s" * 65, "seq": 1}, 6, "session_id"),
    ],
)
def test_field_errors_answer_in_the_contract_order(
    api: Api, path: str, body: dict[str, Any], code: int, field: str
) -> None:
    reply = fails(api, path, code, user_id="nobody-" + uuid.uuid4().hex, **body)
    assert reply["failed"].startswith(field + ":"), reply
