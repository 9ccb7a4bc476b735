"""The fields of a request: presence, type, forbidden characters, sizes, numbers, the cursor."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from .envelope_cases import (
    NAMED_SESSION_PATHS,
    PATHS,
    REQUIRED,
    SESSION_ID_PATHS,
    STRICT_PATHS,
    USER_PATHS,
    WRONG_VALUES,
    check,
    field_cases,
    fresh,
    send,
    shaped,
    valid,
)

if TYPE_CHECKING:
    from conftest import Api


# -- fields: presence and type ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"), [(path, name) for path, names in REQUIRED.items() for name in names]
)
def test_missing_required_field_is_ok_1(api: Api, path: str, name: str) -> None:
    body = valid(api, path) if path in NAMED_SESSION_PATHS else shaped(path)
    del body[name]
    check(send(api, path, body), 1, field=name)


@pytest.mark.parametrize(
    ("path", "name", "wrong"),
    [
        (path, name, wrong)
        for path, name, kind in field_cases(("str", "int", "object"))
        for wrong in WRONG_VALUES[kind]
    ],
)
def test_wrongly_typed_field_is_ok_1(api: Api, path: str, name: str, wrong: Any) -> None:
    body = {**shaped(path), name: wrong}
    check(send(api, path, body), 1, field=name)


@pytest.mark.parametrize("role", ["bot", "User", "", "assistant"])
def test_role_outside_its_values_is_ok_1(api: Api, role: str) -> None:
    body = {**shaped("/add_chat", api.new_user()), "role": role}
    check(send(api, "/add_chat", body), 1, field="role")


@pytest.mark.parametrize("name", ["colour", "userid", "User_id", "session"])
@pytest.mark.parametrize("path", STRICT_PATHS)
def test_unknown_top_level_field_is_ok_1(api: Api, path: str, name: str) -> None:
    body = {**valid(api, path), name: "x"}
    check(send(api, path, body), 1, field=name)


@pytest.mark.parametrize("path", STRICT_PATHS)
def test_an_unknown_field_named_with_line_breaks_is_ok_1(api: Api, path: str) -> None:
    # Found by schemathesis: msgspec's message then spans lines, and its parse gave ok 9.
    body = {**valid(api, path), "a\n\rb": [{}]}
    check(send(api, path, body), 1, field="a\n\rb")


def test_add_user_keeps_further_fields(api: Api) -> None:
    user_id = fresh()
    body = {"user_id": user_id, "user_name": "n", "avatar_url": "https://a/b.png", "gender": 1}
    check(send(api, "/add_user", body), 0)
    info = check(send(api, "/query_user_info", {"user_id": user_id}), 0)
    assert info["avatar_url"] == "https://a/b.png"
    assert info["gender"] == 1


@pytest.mark.parametrize("name", ["ok", "failed", "created_at", "updated_at"])
def test_add_user_refuses_further_fields_the_server_owns(api: Api, name: str) -> None:
    check(send(api, "/add_user", {**shaped("/add_user"), name: "x"}), 1, field=name)


# -- fields: forbidden characters, empty ----------------------------------------------------

NUL_CASES: list[tuple[str, str, Any, str | None]] = [
    *((path, "user_id", "u\x00x", "user_id") for path in USER_PATHS),
    *((path, "request_id", "r\x00x", "request_id") for path in PATHS),
    *((path, "session_id", "s\x00x", "session_id") for path in SESSION_ID_PATHS),
    ("/add_chat", "msg", "hello\x00", "msg"),
    ("/add_chat", "session_title", "t\x00", "session_title"),
    ("/add_chat", "meta", {"model": "m\x00"}, "meta"),
    ("/add_chat", "meta", {"m\x00": 1}, "meta"),
    ("/add_chat", "meta", {"usage": [{"note": "\x00"}]}, "meta"),
    ("/add_user", "user_name", "n\x00", "user_name"),
    ("/add_user", "phone", "1\x00", "phone"),
    ("/add_user", "email", "a@b\x00", "email"),
    ("/add_user", "avatar_url", "https://a\x00", "avatar_url"),
    ("/add_user", "prefs", {"theme": ["\x00"]}, "prefs"),
    ("/add_user", "a\x00b", "x", None),
    ("/query_session_names", "cursor", "c\x00", "cursor"),
]


@pytest.mark.parametrize(
    ("path", "key", "value", "name"),
    NUL_CASES,
    ids=[f"{c[0]}-{c[1]!r}-{i}" for i, c in enumerate(NUL_CASES)],
)
def test_u0000_in_any_string_is_ok_1(
    api: Api, path: str, key: str, value: Any, name: str | None
) -> None:
    body = {**shaped(path, api.new_user()), key: value}
    reply = check(send(api, path, body), 1, field=name)
    if key == "request_id":
        assert reply["request_id"] != value


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\x01", "\x1f", "\x7f", "\x85", "\x9f"])
@pytest.mark.parametrize("path", USER_PATHS)
def test_control_character_in_user_id_is_ok_1(api: Api, path: str, char: str) -> None:
    body = {**shaped(path), "user_id": f"u{char}x"}
    check(send(api, path, body), 1, field="user_id")


@pytest.mark.parametrize("session_id", ["a b", "a,b", "a/b", "a+b", "é", "会话", "a\tb", "a=="])
@pytest.mark.parametrize("path", SESSION_ID_PATHS)
def test_session_id_outside_its_alphabet_is_ok_1(api: Api, path: str, session_id: str) -> None:
    body = {**shaped(path, api.new_user()), "session_id": session_id}
    check(send(api, path, body), 1, field="session_id")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        *((path, "user_id") for path in USER_PATHS),
        *((path, "session_id") for path in NAMED_SESSION_PATHS),
        ("/add_chat", "msg"),
    ],
)
def test_empty_id_or_msg_is_ok_1(api: Api, path: str, name: str) -> None:
    body = {**shaped(path, api.new_user()), name: ""}
    check(send(api, path, body), 1, field=name)


def test_add_chat_with_empty_session_id_opens_a_new_session(api: Api) -> None:
    body = {**shaped("/add_chat", api.new_user()), "session_id": ""}
    reply = check(send(api, "/add_chat", body), 0)
    assert reply["session_id"]


# -- fields: sizes ------------------------------------------------------------------------

TOO_LONG_CASES: list[tuple[str, str, Any, str | None]] = [
    *((path, "user_id", "u" * 129, "user_id") for path in USER_PATHS),
    *((path, "request_id", "r" * 129, "request_id") for path in PATHS),
    *((path, "session_id", "s" * 65, "session_id") for path in SESSION_ID_PATHS),
    ("/add_chat", "msg", "m" * 65_537, "msg"),
    ("/add_chat", "msg", "中" * 65_537, "msg"),
    ("/add_chat", "session_title", "t" * 101, "session_title"),
    ("/add_chat", "meta", {"k": "x" * 8_185}, "meta"),  # 8,193 bytes as JSON
    ("/add_chat", "meta", {"k": "中" * 2_800}, "meta"),  # 2,800 characters, 8,408 bytes
    ("/add_user", "user_name", "n" * 65, "user_name"),
    ("/add_user", "phone", "1" * 33, "phone"),
    ("/add_user", "email", "e" * 255, "email"),
    ("/add_user", "bio", "x" * 8_200, None),  # further profile fields: 8 KiB in all
]


@pytest.mark.parametrize(
    ("path", "key", "value", "name"),
    TOO_LONG_CASES,
    ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(TOO_LONG_CASES)],
)
def test_field_over_its_limit_is_ok_6(
    api: Api, path: str, key: str, value: Any, name: str | None
) -> None:
    body = {**valid(api, path), key: value}
    reply = check(send(api, path, body), 6, field=name)
    if key == "request_id":
        assert reply["request_id"] != value
    if name is None:
        assert "profile" in reply["failed"] or key in reply["failed"], reply


def test_further_profile_fields_over_8_kib_in_all_is_ok_6(api: Api) -> None:
    body = {**shaped("/add_user"), "a": "x" * 4_000, "b": "y" * 4_000, "c": "z" * 400}
    reply = check(send(api, "/add_user", body), 6)
    assert "profile" in reply["failed"] or "8192" in reply["failed"], reply


@pytest.mark.parametrize(
    "user_id", ["u" * 128, "用" * 128, "😀" * 128], ids=["ascii", "cjk", "emoji"]
)
def test_user_id_of_128_characters_is_ok_0(api: Api, user_id: str) -> None:
    check(send(api, "/add_user", {"user_id": user_id, "user_name": "n"}), 0)
    info = check(send(api, "/query_user_info", {"user_id": user_id}), 0)
    assert info["user_id"] == user_id


def test_profile_strings_at_their_limit_count_characters(api: Api) -> None:
    user_id = fresh()
    fields = {"user_name": "名" * 64, "phone": "电" * 32, "email": "邮" * 254}
    check(send(api, "/add_user", {"user_id": user_id, **fields}), 0)
    info = check(send(api, "/query_user_info", {"user_id": user_id}), 0)
    assert {k: info[k] for k in fields} == fields


@pytest.mark.parametrize(
    "msg", ["m" * 65_536, "中" * 65_536, "😀" * 65_536], ids=["ascii", "cjk", "emoji"]
)
def test_msg_of_65536_characters_is_ok_0_and_kept_whole(api: Api, msg: str) -> None:
    user_id = api.new_user()
    reply = check(send(api, "/add_chat", {"user_id": user_id, "role": "ai", "msg": msg}), 0)
    info = check(
        send(api, "/query_session_info", {"user_id": user_id, "session_id": reply["session_id"]}),
        0,
    )
    assert [c["msg"] for c in info["chats"]] == [msg]


def test_session_id_and_title_at_their_limit_are_ok_0(api: Api) -> None:
    user_id = api.new_user()
    session_id = "s" * 63 + "-"
    body = {
        "user_id": user_id,
        "role": "user",
        "msg": "hi",
        "session_id": session_id,
        "session_title": "题" * 100,
    }
    assert check(send(api, "/add_chat", body), 0)["session_id"] == session_id
    names = check(send(api, "/query_session_names", {"user_id": user_id}), 0)
    assert [(s["session_id"], s["session_title"]) for s in names["sessions"]] == [
        (session_id, "题" * 100)
    ]


def test_meta_of_8192_bytes_is_ok_0(api: Api) -> None:
    meta = {"k": "x" * 8_184}
    assert len(json.dumps(meta, separators=(",", ":"))) == 8_192
    user_id = api.new_user()
    body = {"user_id": user_id, "role": "ai", "msg": "hi", "meta": meta}
    reply = check(send(api, "/add_chat", body), 0)
    info = check(
        send(api, "/query_session_info", {"user_id": user_id, "session_id": reply["session_id"]}),
        0,
    )
    assert info["chats"][0]["meta"] == meta


# -- numbers and the cursor ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/query_session_names", "limit", 1_001),
        ("/query_session_names", "limit", 0),
        ("/query_session_names", "limit", -1),
        ("/query_session_names", "limit", 10**30),
        ("/query_session_info", "limit", 1_001),
        ("/query_session_info", "limit", 0),
        ("/query_session_info", "limit", -5),
        ("/query_session_info", "limit", 10**30),
        ("/query_session_info", "before_seq", 0),
        ("/query_session_info", "before_seq", -1),
        ("/query_session_info", "before_seq", 10**30),
    ],
)
def test_number_out_of_range_is_ok_1_never_clamped(
    api: Api, path: str, name: str, value: int
) -> None:
    body = {**valid(api, path), name: value}
    check(send(api, path, body), 1, field=name)


@pytest.mark.parametrize(
    ("path", "name"), [("/query_session_names", "limit"), ("/query_session_info", "limit")]
)
def test_limit_at_its_maximum_is_ok_0(api: Api, path: str, name: str) -> None:
    check(send(api, path, {**valid(api, path), name: 1_000}), 0)


@pytest.mark.parametrize(
    "cursor", ["!!!", "not a cursor", "bm90LWEtY3Vyc29y", "MTIz", "x" * 300, "é"]
)
def test_undecodable_cursor_is_ok_1(api: Api, cursor: str) -> None:
    body = {"user_id": api.new_user(), "cursor": cursor}
    check(send(api, "/query_session_names", body), 1, field="cursor")
