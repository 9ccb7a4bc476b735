"""Idempotency (API.md §4): a ``request_id`` makes every write safe to retry.

The server records (user_id, request_id) with a fingerprint of the request and its reply in
the write's own transaction: a retry gets the recorded reply byte for byte and writes
nothing; the same id with a different request is ok 5 / 409 and writes nothing; reads
record nothing; a failed write records nothing; identical requests in flight at once write
once. Every test runs on SQLite, PostgreSQL and MariaDB through the real server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

from tests.conftest import Api

IN_FLIGHT = 20


def rid() -> str:
    return f"r-{uuid.uuid4().hex}"


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:16]}"


def raw(api: Api, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST ``body`` serialised with its keys in the order given."""
    return api.post(
        path, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


def messages(api: Api, user_id: str, session_id: str) -> list[dict[str, Any]]:
    reply = api.call("/query_session_info", user_id=user_id, session_id=session_id)
    assert reply["ok"] == 0, reply
    return reply["chats"]


def sessions(api: Api, user_id: str) -> list[dict[str, Any]]:
    reply = api.call("/query_session_names", user_id=user_id, limit=1000)
    assert reply["ok"] == 0, reply
    return reply["sessions"]


def assert_ok(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] == 0, body
    assert body["failed"] == ""
    return body


def assert_conflict(response: httpx.Response, request_id: str) -> None:
    body = response.json()
    assert response.status_code == 409, body
    assert body["ok"] == 5, body
    assert body["request_id"] == request_id
    assert "request_id" in body["failed"]


async def _post_all(base_url: str, path: str, bodies: list[dict[str, Any]]) -> list[Any]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(client.post(path, json=b) for b in bodies))


def post_all(api: Api, path: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST every body at once, each on its own connection; return the responses in order."""
    return asyncio.run(_post_all(api.base_url, path, bodies))


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


# -- reads record nothing; writes without request_id are not deduplicated ---------------


def test_reads_record_nothing(api: Api, user: str) -> None:
    request_id = rid()
    assert api.call("/query_user_info", request_id=request_id, user_id=user)["ok"] == 0
    assert api.call("/query_session_names", request_id=request_id, user_id=user)["ok"] == 0
    missing = api.call("/query_session_info", request_id=request_id, user_id=user, session_id=sid())
    assert missing["ok"] == 2
    # The id a read used is still free for a write...
    write = api.post(
        "/add_chat", {"request_id": request_id, "user_id": user, "role": "user", "msg": "m"}
    )
    assert_ok(write)
    session_id = write.json()["session_id"]
    # ...and a read with the id a write used reads afresh, it does not replay the write.
    info = api.call(
        "/query_session_info", request_id=request_id, user_id=user, session_id=session_id
    )
    assert info["ok"] == 0
    assert info["request_id"] == request_id
    assert [c["msg"] for c in info["chats"]] == ["m"]

    read_id = rid()
    before = api.call("/query_session_names", request_id=read_id, user_id=user)
    assert len(before["sessions"]) == 1
    assert api.call("/add_chat", user_id=user, role="user", msg="second")["ok"] == 0
    after = api.call("/query_session_names", request_id=read_id, user_id=user)
    assert len(after["sessions"]) == 2


def test_write_without_request_id_is_not_deduplicated(api: Api, user: str) -> None:
    session_id = sid()
    body = {"user_id": user, "session_id": session_id, "role": "user", "msg": "same"}
    first = api.post("/add_chat", body).json()
    second = api.post("/add_chat", body).json()
    assert (first["ok"], second["ok"]) == (0, 0)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["request_id"] != second["request_id"]  # each a server-generated id
    assert [c["msg"] for c in messages(api, user, session_id)] == ["same", "same"]

    fresh = {"user_id": user, "role": "user", "msg": "new session each time"}
    one = api.post("/add_chat", fresh).json()
    two = api.post("/add_chat", fresh).json()
    assert one["session_id"] != two["session_id"]
    assert len(sessions(api, user)) == 3


def test_failed_write_records_nothing(api: Api) -> None:
    user_id = f"u-{uuid.uuid4().hex}"
    session_id = sid()
    body = {
        "request_id": rid(),
        "user_id": user_id,
        "session_id": session_id,
        "role": "user",
        "msg": "too early",
    }
    missing = api.post("/add_chat", body)
    assert missing.status_code == 404
    assert missing.json()["ok"] == 2
    assert api.call("/add_user", request_id=rid(), user_id=user_id, user_name="n")["ok"] == 0
    later = api.post("/add_chat", body)
    assert_ok(later)
    assert later.json()["seq"] == 1
    assert len(messages(api, user_id, session_id)) == 1

    # A delete of a session that is not there yet: ok 2, recorded nowhere.
    other = sid()
    delete = {"request_id": rid(), "user_id": user_id, "session_id": other}
    assert api.post("/delete_specific_session", delete).json()["ok"] == 2
    made = api.call("/add_chat", user_id=user_id, session_id=other, role="user", msg="x")
    assert made["ok"] == 0
    assert_ok(api.post("/delete_specific_session", delete))
    assert api.call("/query_session_info", user_id=user_id, session_id=other)["ok"] == 2

    # An invalid request (ok 1) records nothing either.
    request_id = rid()
    bad = api.post(
        "/add_chat", {"request_id": request_id, "user_id": user_id, "role": "bot", "msg": "x"}
    )
    assert bad.json()["ok"] == 1
    good = api.post(
        "/add_chat", {"request_id": request_id, "user_id": user_id, "role": "user", "msg": "x"}
    )
    assert_ok(good)


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
