"""Users (API.md §3 /add_user, /query_user_info), over HTTP, on every store.

/add_user is an upsert: the first call creates, later calls change only the fields they
carry. Further profile fields are kept as they came and returned at top level.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from .helpers import TIMESTAMP, fails, next_millisecond, ok

if TYPE_CHECKING:
    from conftest import Api


def new_user_id() -> str:
    return f"u-{uuid.uuid4().hex}"


def profile(api: Api, user_id: str) -> dict[str, Any]:
    """Return query_user_info's reply without the envelope and the timestamps, checked."""
    body = ok(api, "/query_user_info", user_id=user_id)
    for name in ("created_at", "updated_at"):
        assert TIMESTAMP.match(body[name]), body
    return {
        k: v
        for k, v in body.items()
        if k not in ("request_id", "ok", "failed", "created_at", "updated_at")
    }


def parse_ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


# -- upsert -------------------------------------------------------------------------------


def test_first_call_creates_later_calls_update(api: Api) -> None:
    user_id = new_user_id()
    first = ok(
        api, "/add_user", request_id=f"r-{uuid.uuid4().hex}", user_id=user_id, user_name="tester"
    )
    assert first["user_id"] == user_id
    assert first["created"] is True
    second = ok(api, "/add_user", user_id=user_id, user_name="tester2")
    assert second["user_id"] == user_id
    assert second["created"] is False
    third = ok(api, "/add_user", user_id=user_id, user_name="tester2")
    assert third["created"] is False
    assert profile(api, user_id) == {
        "user_id": user_id,
        "user_name": "tester2",
        "phone": "",
        "email": "",
    }


def test_reply_echoes_the_request_id(api: Api) -> None:
    """request_id is the call's id, not a profile field: it is echoed and not stored."""
    user_id = new_user_id()
    rid = f"req-{uuid.uuid4().hex}"
    body = ok(api, "/add_user", request_id=rid, user_id=user_id, user_name="n")
    assert body == {"request_id": rid, "ok": 0, "failed": "", "user_id": user_id, "created": True}
    assert "request_id" not in profile(api, user_id)
    info = ok(api, "/query_user_info", request_id="q-1", user_id=user_id)
    assert info["request_id"] == "q-1"


def test_never_given_fields_are_empty_strings(api: Api) -> None:
    user_id = new_user_id()
    ok(api, "/add_user", user_id=user_id, user_name="only a name")
    assert profile(api, user_id) == {
        "user_id": user_id,
        "user_name": "only a name",
        "phone": "",
        "email": "",
    }


def test_update_changes_only_the_fields_it_carries(api: Api) -> None:
    user_id = new_user_id()
    ok(
        api,
        "/add_user",
        user_id=user_id,
        user_name="张三",
        phone="13800000000",
        email="zs@example.com",
        avatar_url="https://img.example.com/a.png",
        gender=1,
    )
    expected = {
        "user_id": user_id,
        "user_name": "张三",
        "phone": "13800000000",
        "email": "zs@example.com",
        "avatar_url": "https://img.example.com/a.png",
        "gender": 1,
    }
    assert profile(api, user_id) == expected

    assert ok(api, "/add_user", user_id=user_id, phone="13900000000")["created"] is False
    expected["phone"] = "13900000000"
    assert profile(api, user_id) == expected

    ok(api, "/add_user", user_id=user_id, email="new@example.com")
    expected["email"] = "new@example.com"
    assert profile(api, user_id) == expected

    ok(api, "/add_user", user_id=user_id, user_name="李四")
    expected["user_name"] = "李四"
    assert profile(api, user_id) == expected

    # A call with only the id changes nothing.
    assert ok(api, "/add_user", user_id=user_id)["created"] is False
    assert profile(api, user_id) == expected


def test_further_fields_are_kept_as_they_came(api: Api) -> None:
    user_id = new_user_id()
    further = {
        "avatar_url": "https://thirdwx.qlogo.cn/mmopen/vi_32/abc/132",
        "gender": 2,
        "score": 3.5,
        "vip": False,
        "address": {"province": "广东", "city": "深圳", "geo": [22.54, 114.06]},
        "tags": ["a", 1, None, True, {"k": "v"}, []],
        "nickname_alt": None,
        "empty_obj": {},
        "empty_str": "",
    }
    ok(api, "/add_user", user_id=user_id, user_name="u", **further)
    assert profile(api, user_id) == {
        "user_id": user_id,
        "user_name": "u",
        "phone": "",
        "email": "",
        **further,
    }


def test_later_call_merges_new_further_fields(api: Api) -> None:
    user_id = new_user_id()
    ok(api, "/add_user", user_id=user_id, user_name="u", avatar_url="a.png", gender=1, city="北京")
    ok(api, "/add_user", user_id=user_id, gender=2, level={"n": 5, "name": "gold"})
    assert profile(api, user_id) == {
        "user_id": user_id,
        "user_name": "u",
        "phone": "",
        "email": "",
        "avatar_url": "a.png",
        "gender": 2,
        "city": "北京",
        "level": {"n": 5, "name": "gold"},
    }
    # A later call that carries only a known field keeps every further field.
    ok(api, "/add_user", user_id=user_id, phone="123")
    info = profile(api, user_id)
    assert info["avatar_url"] == "a.png"
    assert info["gender"] == 2
    assert info["city"] == "北京"
    assert info["level"] == {"n": 5, "name": "gold"}
    assert info["phone"] == "123"
    assert info["user_name"] == "u"


def test_further_fields_added_to_a_user_made_without_any(api: Api) -> None:
    user_id = new_user_id()
    ok(api, "/add_user", user_id=user_id, user_name="plain")
    ok(api, "/add_user", user_id=user_id, avatar_url="x.png")
    assert profile(api, user_id) == {
        "user_id": user_id,
        "user_name": "plain",
        "phone": "",
        "email": "",
        "avatar_url": "x.png",
    }


@pytest.mark.parametrize("name", ["ok", "failed", "created_at", "updated_at", "created"])
def test_reserved_further_field_names_are_refused(api: Api, name: str) -> None:
    # A new user: refused, and not created.
    user_id = new_user_id()
    body = fails(api, "/add_user", 1, user_id=user_id, user_name="u", **{name: "x"})
    assert name in body["failed"]
    fails(api, "/query_user_info", 2, user_id=user_id)

    # An existing user: refused, and nothing changed.
    existing = api.new_user(avatar_url="a.png")
    before = ok(api, "/query_user_info", user_id=existing)
    body = fails(api, "/add_user", 1, user_id=existing, user_name="changed", **{name: 1})
    assert name in body["failed"]
    after = ok(api, "/query_user_info", user_id=existing)
    assert {k: v for k, v in after.items() if k != "request_id"} == {
        k: v for k, v in before.items() if k != "request_id"
    }


# -- timestamps ---------------------------------------------------------------------------


def test_timestamps_are_rfc3339_utc_milliseconds(api: Api) -> None:
    started = datetime.now(UTC)
    user_id = new_user_id()
    ok(api, "/add_user", user_id=user_id, user_name="t")
    info = ok(api, "/query_user_info", user_id=user_id)
    assert TIMESTAMP.match(info["created_at"]), info
    assert TIMESTAMP.match(info["updated_at"]), info
    assert info["created_at"] == info["updated_at"]
    created = parse_ts(info["created_at"])
    # The server's clock is this machine's: the time is now, to the second.
    assert abs((created - started).total_seconds()) < 5


def test_updated_at_moves_on_update_created_at_does_not(api: Api) -> None:
    user_id = new_user_id()
    ok(api, "/add_user", user_id=user_id, user_name="t")
    first = ok(api, "/query_user_info", user_id=user_id)
    next_millisecond()
    ok(api, "/add_user", user_id=user_id, phone="1")
    second = ok(api, "/query_user_info", user_id=user_id)
    assert second["created_at"] == first["created_at"]
    assert parse_ts(second["updated_at"]) > parse_ts(first["updated_at"])
    next_millisecond()
    ok(api, "/add_user", user_id=user_id, hobby="go")  # only a further field
    third = ok(api, "/query_user_info", user_id=user_id)
    assert third["created_at"] == first["created_at"]
    assert parse_ts(third["updated_at"]) > parse_ts(second["updated_at"])


# -- not found ----------------------------------------------------------------------------


def test_unknown_user_is_not_found(api: Api) -> None:
    body = fails(api, "/query_user_info", 2, request_id="rq-unknown", user_id=new_user_id())
    assert body["request_id"] == "rq-unknown"
    assert "user_id" in body["failed"]


def test_users_are_separate(api: Api) -> None:
    a = new_user_id()
    b = new_user_id()
    ok(api, "/add_user", user_id=a, user_name="A", phone="1", color="red")
    ok(api, "/add_user", user_id=b, user_name="B", email="b@example.com")
    assert profile(api, a) == {
        "user_id": a,
        "user_name": "A",
        "phone": "1",
        "email": "",
        "color": "red",
    }
    assert profile(api, b) == {
        "user_id": b,
        "user_name": "B",
        "phone": "",
        "email": "b@example.com",
    }


def test_further_fields_are_limited_in_all_not_per_call(api: Api) -> None:
    user_id = api.new_user()
    half = "x" * 5000
    ok(api, "/add_user", user_id=user_id, note_a=half)
    body = fails(api, "/add_user", 6, user_id=user_id, note_b=half)
    assert body["failed"].startswith("profile fields:"), body
    info = ok(api, "/query_user_info", user_id=user_id)
    assert info["note_a"] == half and "note_b" not in info
