"""Identical requests in flight at once write exactly once."""

from __future__ import annotations

import uuid

from tests.conftest import Api

from .idempotency_cases import IN_FLIGHT, messages, post_all, rid, sessions, sid

# -- identical requests in flight at once: exactly one write ---------------------------


def test_identical_requests_in_flight_append_once(api: Api, user: str) -> None:
    session_id = sid()
    made = api.call("/add_chat", user_id=user, session_id=session_id, role="user", msg="q")
    assert made["ok"] == 0
    body = {
        "request_id": rid(),
        "user_id": user,
        "session_id": session_id,
        "role": "ai",
        "msg": "only once",
    }
    replies = post_all(api, "/add_chat", [body] * IN_FLIGHT)
    for reply in replies:
        assert reply.status_code == 200, reply.json()
    assert {r.content for r in replies} == {replies[0].content}
    first = replies[0].json()
    assert first["ok"] == 0 and first["seq"] == 2 and first["session_id"] == session_id
    assert [c["seq"] for c in messages(api, user, session_id)] == [1, 2]
    [row] = sessions(api, user)
    assert row["chat_count"] == 2


def test_identical_requests_in_flight_among_failing_writes_append_once(api: Api, user: str) -> None:
    # Failing writes in the same commit group send the twins through the per-write
    # savepoint pass (SQLite); there each twin still finds the record of the first.
    session_id = sid()
    assert (
        api.call("/add_chat", user_id=user, session_id=session_id, role="user", msg="q")["ok"] == 0
    )
    twin = {
        "request_id": rid(),
        "user_id": user,
        "session_id": session_id,
        "role": "ai",
        "msg": "once",
    }
    failing = {"user_id": f"u-{uuid.uuid4().hex}", "role": "user", "msg": "no such user"}
    bodies = [failing if i % 3 == 0 else twin for i in range(IN_FLIGHT)]
    replies = post_all(api, "/add_chat", bodies)
    failed = [r for body, r in zip(bodies, replies, strict=True) if body is failing]
    twins = [r for body, r in zip(bodies, replies, strict=True) if body is twin]
    assert {r.json()["ok"] for r in failed} == {2}
    for reply in twins:
        assert reply.status_code == 200, reply.json()
    assert {r.content for r in twins} == {twins[0].content}
    assert twins[0].json()["seq"] == 2
    assert [c["seq"] for c in messages(api, user, session_id)] == [1, 2]


def test_identical_requests_in_flight_without_session_id_make_one_session(
    api: Api, user: str
) -> None:
    body = {"request_id": rid(), "user_id": user, "role": "user", "msg": "only one session"}
    replies = post_all(api, "/add_chat", [body] * IN_FLIGHT)
    for reply in replies:
        assert reply.status_code == 200, reply.json()
    assert {r.content for r in replies} == {replies[0].content}
    first = replies[0].json()
    assert first["ok"] == 0 and first["seq"] == 1
    [row] = sessions(api, user)
    assert row["session_id"] == first["session_id"]
    assert row["chat_count"] == 1
    assert len(messages(api, user, first["session_id"])) == 1


def test_identical_add_user_in_flight_creates_once(api: Api) -> None:
    user_id = f"u-{uuid.uuid4().hex}"
    body = {"request_id": rid(), "user_id": user_id, "user_name": "racer"}
    replies = post_all(api, "/add_user", [body] * IN_FLIGHT)
    for reply in replies:
        assert reply.status_code == 200, reply.json()
    assert {r.content for r in replies} == {replies[0].content}
    assert replies[0].json()["created"] is True
