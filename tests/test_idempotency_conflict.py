"""The same request_id with a different request is ok 5; the key is (user_id, request_id)."""

from __future__ import annotations

import uuid

from tests.conftest import Api

from .idempotency_cases import assert_conflict, assert_ok, messages, raw, rid, sessions, sid

# -- the same request_id with a different request: ok 5, nothing written ---------------


def test_add_chat_same_request_id_different_body_is_a_conflict(api: Api, user: str) -> None:
    session_id = sid()
    request_id = rid()
    body = {
        "request_id": request_id,
        "user_id": user,
        "session_id": session_id,
        "role": "user",
        "msg": "a",
    }
    assert_ok(api.post("/add_chat", body))
    assert_conflict(api.post("/add_chat", body | {"msg": "b"}), request_id)
    assert_conflict(api.post("/add_chat", body | {"role": "ai"}), request_id)
    assert_conflict(api.post("/add_chat", body | {"meta": {"k": 1}}), request_id)
    # A different session is a different request too, and it must not be created.
    other = sid()
    assert_conflict(api.post("/add_chat", body | {"session_id": other}), request_id)
    assert [c["msg"] for c in messages(api, user, session_id)] == ["a"]
    assert [s["session_id"] for s in sessions(api, user)] == [session_id]
    assert sessions(api, user)[0]["chat_count"] == 1
    gone = api.call("/query_session_info", user_id=user, session_id=other)
    assert gone["ok"] == 2
    # The recorded request still replays.
    assert api.post("/add_chat", body).json()["seq"] == 1


def test_add_user_same_request_id_different_body_is_a_conflict(api: Api) -> None:
    user_id = f"u-{uuid.uuid4().hex}"
    request_id = rid()
    body = {"request_id": request_id, "user_id": user_id, "user_name": "a"}
    assert_ok(api.post("/add_user", body))
    assert_conflict(api.post("/add_user", body | {"user_name": "b"}), request_id)
    assert_conflict(api.post("/add_user", body | {"phone": "123"}), request_id)
    info = api.call("/query_user_info", user_id=user_id)
    assert info["user_name"] == "a"
    assert info["phone"] == ""


def test_delete_specific_session_same_request_id_other_session_is_a_conflict(
    api: Api, user: str
) -> None:
    first, second = sid(), sid()
    for session_id in (first, second):
        made = api.call("/add_chat", user_id=user, session_id=session_id, role="user", msg="m")
        assert made["ok"] == 0
    request_id = rid()
    body = {"request_id": request_id, "user_id": user, "session_id": first}
    assert_ok(api.post("/delete_specific_session", body))
    assert_conflict(api.post("/delete_specific_session", body | {"session_id": second}), request_id)
    assert [s["session_id"] for s in sessions(api, user)] == [second]
    assert len(messages(api, user, second)) == 1


def test_same_request_id_on_another_endpoint_is_a_conflict(api: Api, user: str) -> None:
    request_id = rid()
    made = api.call("/add_chat", request_id=request_id, user_id=user, role="user", msg="keep")
    assert made["ok"] == 0
    assert_conflict(
        api.post("/delete_sessions", {"request_id": request_id, "user_id": user}), request_id
    )
    assert_conflict(
        api.post(
            "/delete_specific_session",
            {"request_id": request_id, "user_id": user, "session_id": made["session_id"]},
        ),
        request_id,
    )
    assert [s["session_id"] for s in sessions(api, user)] == [made["session_id"]]
    assert len(messages(api, user, made["session_id"])) == 1


def test_not_found_answers_before_conflict(api: Api, user: str) -> None:
    """API.md §1: not found (2) comes before conflict (5)."""
    request_id = rid()
    made = api.call("/add_chat", request_id=request_id, user_id=user, role="user", msg="m")
    assert made["ok"] == 0
    reply = api.post(
        "/delete_specific_session",
        {"request_id": request_id, "user_id": user, "session_id": sid()},
    )
    assert reply.status_code == 404
    assert reply.json()["ok"] == 2


# -- whose request: the key is (user_id, request_id) ---------------------------------------


def test_same_request_id_for_two_users_is_two_requests(api: Api) -> None:
    alice, bob = api.new_user(), api.new_user()
    request_id = rid()
    a = api.post(
        "/add_chat", {"request_id": request_id, "user_id": alice, "role": "user", "msg": "hi"}
    )
    b = api.post(
        "/add_chat", {"request_id": request_id, "user_id": bob, "role": "user", "msg": "hi"}
    )
    assert_ok(a)
    assert_ok(b)
    assert a.json()["session_id"] != b.json()["session_id"]
    assert len(sessions(api, alice)) == 1
    assert len(sessions(api, bob)) == 1
    assert len(messages(api, bob, b.json()["session_id"])) == 1

    # add_user with one request id for two new users creates both.
    carol, dave = f"u-{uuid.uuid4().hex}", f"u-{uuid.uuid4().hex}"
    shared = rid()
    for user_id in (carol, dave):
        reply = api.post("/add_user", {"request_id": shared, "user_id": user_id, "user_name": "n"})
        assert_ok(reply)
        assert reply.json()["created"] is True
        assert reply.json()["user_id"] == user_id


def test_key_order_does_not_change_the_fingerprint(api: Api, user: str) -> None:
    request_id = rid()
    user_id = f"u-{uuid.uuid4().hex}"
    body = {
        "request_id": request_id,
        "user_id": user_id,
        "user_name": "name",
        "phone": "123",
        "email": "a@example.com",
        "avatar_url": "https://example.com/x.png",
        "gender": 1,
    }
    first = raw(api, "/add_user", body)
    assert_ok(first)
    reordered = dict(reversed(list(body.items())))
    assert list(reordered) != list(body)
    again = raw(api, "/add_user", reordered)
    assert again.status_code == 200, again.json()
    assert again.content == first.content

    chat = {
        "request_id": rid(),
        "user_id": user,
        "session_id": sid(),
        "session_title": "t",
        "role": "user",
        "msg": "hello",
        "meta": {"model": "m", "tokens": 2},
    }
    first = raw(api, "/add_chat", chat)
    assert_ok(first)
    again = raw(api, "/add_chat", dict(reversed(list(chat.items()))))
    assert again.status_code == 200, again.json()
    assert again.content == first.content
    assert len(messages(api, user, chat["session_id"])) == 1
