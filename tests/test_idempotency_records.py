"""Reads and failed writes record nothing; writes without a request_id are not deduplicated."""

from __future__ import annotations

import uuid

from tests.conftest import Api

from .idempotency_cases import assert_ok, messages, rid, sessions, sid

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
