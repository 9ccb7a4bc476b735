"""A retry with the same request_id and body gets the same reply, and writes nothing again."""

from __future__ import annotations

import uuid

from tests.conftest import Api

from .idempotency_cases import assert_ok, messages, rid, sessions, sid

# -- a retry with the same request_id and body: the same reply, no second write ----------


def test_add_chat_retry_in_existing_session_writes_once(api: Api, user: str) -> None:
    session_id = sid()
    assert_ok(api.post("/add_chat", {"user_id": user, "role": "user", "msg": "first"}))
    first = api.post(
        "/add_chat",
        {"user_id": user, "session_id": session_id, "role": "user", "msg": "hello"},
    )
    assert_ok(first)
    body = {
        "request_id": rid(),
        "user_id": user,
        "session_id": session_id,
        "role": "ai",
        "msg": "the answer",
        "meta": {"model": "m1", "tokens": 3},
    }
    reply = api.post("/add_chat", body)
    retry = api.post("/add_chat", body)
    assert_ok(reply)
    assert retry.status_code == 200
    assert retry.content == reply.content
    assert reply.json()["seq"] == 2
    assert reply.json()["request_id"] == body["request_id"]
    chats = messages(api, user, session_id)
    assert [(c["seq"], c["msg"]) for c in chats] == [(1, "hello"), (2, "the answer")]
    counts = {s["session_id"]: s["chat_count"] for s in sessions(api, user)}
    assert counts[session_id] == 2


def test_add_chat_retry_creating_named_session_writes_once(api: Api, user: str) -> None:
    session_id = sid()
    body = {
        "request_id": rid(),
        "user_id": user,
        "session_id": session_id,
        "role": "user",
        "msg": "hi",
    }
    first = api.post("/add_chat", body)
    second = api.post("/add_chat", body)
    assert_ok(first)
    assert second.content == first.content
    assert first.json()["session_id"] == session_id
    assert first.json()["seq"] == 1
    assert [c["seq"] for c in messages(api, user, session_id)] == [1]
    [row] = sessions(api, user)
    assert row["session_id"] == session_id
    assert row["chat_count"] == 1


def test_add_chat_retry_without_session_id_returns_the_same_new_session(
    api: Api, user: str
) -> None:
    body = {"request_id": rid(), "user_id": user, "role": "user", "msg": "a new chat"}
    first = api.post("/add_chat", body)
    second = api.post("/add_chat", body)
    third = api.post("/add_chat", body)
    assert_ok(first)
    assert second.content == first.content
    assert third.content == first.content
    session_id = first.json()["session_id"]
    assert session_id
    [row] = sessions(api, user)
    assert row["session_id"] == session_id
    assert row["chat_count"] == 1
    assert len(messages(api, user, session_id)) == 1


def test_add_user_retry_returns_the_recorded_reply_and_does_not_write_again(
    api: Api,
) -> None:
    user_id = f"u-{uuid.uuid4().hex}"
    body = {
        "request_id": rid(),
        "user_id": user_id,
        "user_name": "first name",
        "avatar_url": "https://example.com/a.png",
    }
    first = api.post("/add_user", body)
    assert_ok(first)
    assert first.json()["created"] is True
    # Another call (its own request id) changes the name...
    changed = api.call("/add_user", request_id=rid(), user_id=user_id, user_name="second name")
    assert changed["ok"] == 0 and changed["created"] is False
    # ...and the retry of the first call replays its reply without writing the old name back.
    retry = api.post("/add_user", body)
    assert retry.status_code == 200
    assert retry.content == first.content
    assert retry.json()["created"] is True
    info = api.call("/query_user_info", user_id=user_id)
    assert info["user_name"] == "second name"
    assert info["avatar_url"] == "https://example.com/a.png"


def test_delete_specific_session_retry_is_ok_and_does_not_delete_again(api: Api, user: str) -> None:
    session_id = sid()
    made = api.call("/add_chat", user_id=user, session_id=session_id, role="user", msg="x")
    assert made["ok"] == 0
    body = {"request_id": rid(), "user_id": user, "session_id": session_id}
    first = api.post("/delete_specific_session", body)
    assert_ok(first)
    retry = api.post("/delete_specific_session", body)
    assert retry.status_code == 200
    assert retry.content == first.content  # ok 0 again, not ok 2
    # The session is made again; a late retry of the delete must not remove it.
    again = api.call("/add_chat", user_id=user, session_id=session_id, role="user", msg="y")
    assert again["ok"] == 0 and again["seq"] == 1
    late = api.post("/delete_specific_session", body)
    assert late.content == first.content
    assert [c["msg"] for c in messages(api, user, session_id)] == ["y"]


def test_delete_sessions_retry_replays_the_count_and_does_not_delete_again(
    api: Api, user: str
) -> None:
    for text in ("one", "two"):
        assert api.call("/add_chat", user_id=user, role="user", msg=text)["ok"] == 0
    body = {"request_id": rid(), "user_id": user}
    first = api.post("/delete_sessions", body)
    assert_ok(first)
    assert first.json()["deleted"] == 2
    kept = api.call("/add_chat", user_id=user, role="user", msg="after the delete")
    assert kept["ok"] == 0
    retry = api.post("/delete_sessions", body)
    assert retry.status_code == 200
    assert retry.content == first.content
    assert retry.json()["deleted"] == 2
    assert [s["session_id"] for s in sessions(api, user)] == [kept["session_id"]]
