"""The body: its size limit, a body that is no JSON object, and hostile JSON (API.md §2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from .envelope_cases import (
    A_FIELD,
    MIB,
    PATHS,
    STRICT_PATHS,
    USER_PATHS,
    check,
    encode,
    fresh,
    send,
    shaped,
)

if TYPE_CHECKING:
    from conftest import Api


# -- the body -----------------------------------------------------------------------------


def _oversized(path: str) -> bytes:
    """Return a well-formed JSON body for ``path`` of just over 1 MiB."""
    body = encode({**shaped(path), "pad": ""})
    return body[:-2] + b"x" * (MIB + 1 - len(body)) + b'"}'


def _chunks(data: bytes, size: int = 65_536) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("path", PATHS)
def test_body_over_1_mib_with_content_length_is_ok_6(api: Api, path: str) -> None:
    body = _oversized(path)
    assert len(body) == MIB + 1
    check(send(api, path, body), 6, field="body")


@pytest.mark.parametrize("path", PATHS)
def test_body_over_1_mib_chunked_is_ok_6(api: Api, path: str) -> None:
    body = _oversized(path)
    response = api.post(path, content=_chunks(body), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    check(response, 6, field="body")


def test_chunked_body_under_the_limit_is_read(api: Api) -> None:
    rid = fresh("r")
    body = encode({"user_id": api.new_user(), "request_id": rid})
    response = api.post("/query_user_info", content=_chunks(body, 7))
    assert "content-length" not in response.request.headers
    check(response, 0, request_id=rid)


def test_body_of_exactly_1_mib_is_read(api: Api) -> None:
    body = encode({"user_id": api.new_user()})
    body = body[:-1] + b" " * (MIB - len(body)) + b"}"
    assert len(body) == MIB
    check(send(api, "/query_user_info", body), 0)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_limit_beats_malformed_json(api: Api, chunked: bool) -> None:
    body = b"{not json" + b"\xff" * MIB
    content = _chunks(body) if chunked else body
    check(api.post("/add_chat", content=content), 6, field="body")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b" ",
        b"{",
        b"hello",
        b"{'user_id': 'u'}",
        b'{"user_id": "u",}',
        b'{"user_id": "u"} {}',
        b'{"user_id": "\xff\xfe"}',
        b"\xff\xfe{}",
        b"[]",
        b'[{"user_id": "u"}]',
        b'"user_id"',
        b"1",
        b"null",
        b"true",
    ],
    ids=[
        "empty",
        "space",
        "truncated",
        "word",
        "single-quotes",
        "trailing-comma",
        "trailing-data",
        "invalid-utf8-in-string",
        "invalid-utf8-bom",
        "array",
        "array-of-object",
        "string",
        "number",
        "null",
        "true",
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_body_not_a_json_object_is_ok_1(api: Api, path: str, body: bytes) -> None:
    check(send(api, path, body), 1, field="body")


# -- hostile JSON: nesting, numbers out of range, surrogates, duplicate keys ----------------


def _nested(depth: int) -> Any:
    """Return a value nested ``depth`` deep counted from itself (objects and arrays)."""
    return msgspec.json.decode(_nested_text(depth))


def _nested_text(depth: int) -> bytes:
    """Return the JSON text of a value nested ``depth`` deep, arrays in objects in arrays."""
    opening = b"".join(b'{"k":' if level % 2 else b"[" for level in range(depth))
    closing = b"".join(b"}" if level % 2 else b"]" for level in reversed(range(depth)))
    return opening + b"1" + closing


def _raw_with(path: str, key: str, raw: bytes) -> bytes:
    """Return ``path``'s well-formed body with ``key`` set to this raw JSON text."""
    body = encode({**shaped(path), key: "HOLE"})
    return body.replace(b'"HOLE"', raw)


# Where a value may be deep: a known field of each endpoint (meta and further profile
# fields are free-form), and an unknown one (named ``body`` where it is no field).
DEEP_CASES = [
    *((path, A_FIELD[path], A_FIELD[path]) for path in PATHS),
    *((path, "zz_unknown", "body") for path in STRICT_PATHS),
    ("/add_chat", "meta", "meta"),
    ("/add_user", "prefs", "prefs"),
]


@pytest.mark.parametrize(("path", "key", "name"), DEEP_CASES)
@pytest.mark.parametrize("depth", [33, 327, 1_000, 10_000])
def test_json_nested_deeper_than_32_is_ok_1(
    api: Api, path: str, key: str, name: str, depth: int
) -> None:
    # The top-level object is depth 1: a value nested depth - 1 deep in it reaches depth.
    body = _raw_with(path, key, _nested_text(depth - 1))
    reply = check(send(api, path, body), 1, field=name)
    assert "nested deeper than 32" in reply["failed"], reply


@pytest.mark.parametrize("path", PATHS)
def test_a_deep_body_that_is_no_object_is_ok_1_naming_the_body(api: Api, path: str) -> None:
    body = b"[" * 10_000 + b"]" * 10_000
    check(send(api, path, body), 1, field="body")


def test_json_nested_32_deep_is_ok_0(api: Api) -> None:
    user_id = api.new_user()
    meta = {"k": _nested(30)}  # the body 1, meta 2, its content 30 more: 32
    reply = check(send(api, "/add_chat", {**shaped("/add_chat", user_id), "meta": meta}), 0)
    info = check(
        send(api, "/query_session_info", {"user_id": user_id, "session_id": reply["session_id"]}),
        0,
    )
    assert info["chats"][0]["meta"] == meta
    profile = {**shaped("/add_user"), "prefs": {"k": _nested(30)}}
    check(send(api, "/add_user", profile), 0)


def test_brackets_inside_strings_are_no_nesting(api: Api) -> None:
    text = '[{"' * 200 + '\\"]' * 5
    user_id = api.new_user()
    body = {**shaped("/add_chat", user_id), "msg": text, "meta": {"note": text}}
    reply = check(send(api, "/add_chat", body), 0)
    info = check(
        send(api, "/query_session_info", {"user_id": user_id, "session_id": reply["session_id"]}),
        0,
    )
    assert info["chats"][0]["msg"] == text and info["chats"][0]["meta"] == {"note": text}


@pytest.mark.parametrize("path", PATHS)
def test_nesting_answers_before_the_credential_and_1e400_after(secured: Api, path: str) -> None:
    none = {"authorization": "", "content-type": "application/json"}  # malformed, even /login
    deep = _raw_with(path, A_FIELD[path], _nested_text(40))
    check(secured.post(path, content=deep, headers=none), 1)
    out_of_range = _raw_with(path, "zz", b"1e400")  # a field error: the credential first
    check(secured.post(path, content=out_of_range, headers=none), 3)


OUT_OF_RANGE_CASES = [
    ("/add_chat", "meta", b'{"usage": {"cost": 1e400}}'),
    ("/add_chat", "meta", b'{"scores": [1, -1e400]}'),
    ("/add_chat", "msg", b"1e400"),
    ("/add_user", "prefs", b'{"x": [1e400]}'),
    ("/add_user", "score", b"-1e999"),
    ("/query_session_names", "limit", b"1e400"),
    ("/query_session_info", "before_seq", b"1e400"),
]


@pytest.mark.parametrize(("path", "key", "raw"), OUT_OF_RANGE_CASES)
def test_number_out_of_float_range_is_ok_1_naming_its_field(
    api: Api, path: str, key: str, raw: bytes
) -> None:
    rid = fresh("r")
    body = _raw_with(path, key, raw).replace(b"{", b'{"request_id": "%s", ' % rid.encode(), 1)
    reply = check(send(api, path, body), 1, field=key, request_id=rid)
    assert "out of range" in reply["failed"], reply


SURROGATE_CASES = [
    *((path, "user_id", "user_id") for path in USER_PATHS),
    *((path, "request_id", "request_id") for path in PATHS),
    ("/add_chat", "msg", "msg"),
    ("/add_chat", "session_title", "session_title"),
    ("/add_chat", "meta", "meta"),
    ("/add_user", "user_name", "user_name"),
    ("/add_user", "bio", "bio"),
    ("/add_user", "prefs", "prefs"),
]


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff", b"x\\udc00\\ud800y"])
@pytest.mark.parametrize(("path", "key", "name"), SURROGATE_CASES)
def test_lone_surrogate_in_any_string_is_ok_1(
    api: Api, path: str, key: str, name: str, escape: bytes
) -> None:
    value = b'{"k": ["%s"]}' % escape if key in ("meta", "prefs") else b'"%s"' % escape
    reply = check(send(api, path, _raw_with(path, key, value)), 1, field=name)
    assert "surrogate" in reply["failed"], reply


def test_lone_surrogate_in_a_field_name_is_ok_1(api: Api) -> None:
    body = _raw_with("/add_user", "bio", b'"x"').replace(b'"bio"', b'"b\\ud800"')
    check(send(api, "/add_user", body), 1, field="body")


def test_surrogate_pair_and_escaped_backslash_are_kept(api: Api) -> None:
    user_id = api.new_user()
    body = encode({**shaped("/add_chat", user_id), "msg": "HOLE"}).replace(
        b'"HOLE"', b'"\\ud83d\\ude00 \\\\ud800"'
    )
    reply = check(send(api, "/add_chat", body), 0)
    info = check(
        send(api, "/query_session_info", {"user_id": user_id, "session_id": reply["session_id"]}),
        0,
    )
    assert info["chats"][0]["msg"] == "😀 \\ud800"


def test_a_key_given_twice_counts_once_the_last(api: Api) -> None:
    user_id = api.new_user()
    first = encode({"user_id": user_id, "role": "user", "msg": "first"})
    body = first[:-1] + b', "msg": "last", "role": "ai"}'
    reply = check(send(api, "/add_chat", body), 0)
    info = check(
        send(api, "/query_session_info", {"user_id": user_id, "session_id": reply["session_id"]}),
        0,
    )
    assert [(c["role"], c["msg"]) for c in info["chats"]] == [("ai", "last")]
    profile = encode({"user_id": user_id, "user_name": "a", "bio": "x"})
    check(send(api, "/add_user", profile[:-1] + b', "user_name": "b", "bio": "y"}'), 0)
    info = check(send(api, "/query_user_info", {"user_id": user_id}), 0)
    assert (info["user_name"], info["bio"]) == ("b", "y")
