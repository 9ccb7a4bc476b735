"""The envelope on every reply, and which error answers first (API.md §1 and §2).

Every rule here is one test parametrised over every endpoint it applies to, and runs through
the real HTTP server on SQLite, PostgreSQL and MariaDB (the ``api`` fixture).
"""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest

import huihua
import huihua.service

from . import sse
from .access import code_for, new_openid
from .helpers import ENDPOINTS, POST_PATHS, STATUS, field_kinds, required_fields

if TYPE_CHECKING:
    from conftest import Api

PATHS = POST_PATHS
FIELDS: dict[str, dict[str, str]] = {path: field_kinds(path) for path in PATHS}
REQUIRED = {path: required_fields(path) for path in PATHS}
# A field of each endpoint: its first required one (the operator's routes require none).
A_FIELD = {
    path: (REQUIRED[path] or tuple(k for k in field_kinds(path) if k != "request_id"))[0]
    for path in PATHS
}
STRICT_PATHS = tuple(p for p in PATHS if ENDPOINTS[p].strict)
USER_PATHS = tuple(p for p in PATHS if "user_id" in FIELDS[p])  # every one but /login
NAMED_SESSION_PATHS = tuple(p for p in PATHS if "session_id" in REQUIRED[p])
SESSION_ID_PATHS = tuple(p for p in PATHS if "session_id" in FIELDS[p])
# add_user is an upsert: it never answers "no such user"
UNKNOWN_USER_PATHS = tuple(p for p in USER_PATHS if p in STRICT_PATHS)

# API.md §1: the HTTP status of each ok code.
MIB = 1_048_576

WRONG_VALUES = {
    "str": (1, 1.5, True, {"a": "b"}, ["a"]),
    "int": ("10", True, 1.5, {"n": 1}, [1]),
    "object": ("text", 1, True, ["a"]),
}
# The service function each endpoint calls (named as the endpoint), for the ok 9 test.
SERVICE_FUNCTIONS = {path: path.strip("/") for path in PATHS}


# -- helpers ------------------------------------------------------------------------------


def fresh(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def shaped(path: str, user_id: str | None = None) -> dict[str, Any]:
    """Return a well-formed body for ``path`` (the table's example); its user (a fresh one
    unless given) and session need not exist."""
    body = dict(ENDPOINTS[path].example)
    if "user_id" in body:
        body["user_id"] = user_id or fresh()
    if "session_id" in body:
        body["session_id"] = "s-missing"
    if path == "/login":
        body["code"] = code_for(new_openid())
    return body


def valid(api: Api, path: str) -> dict[str, Any]:
    """Return a body that ``path`` answers with ok 0: its user (and session) exist."""
    if "user_id" not in FIELDS[path] or not ENDPOINTS[path].strict:
        return shaped(path)  # add_user makes its user; login, its own
    user_id = api.new_user()
    body = shaped(path, user_id)
    if path in NAMED_SESSION_PATHS:
        # a user message at seq 1 and an ai reply at seq 2 (what update_chat's example needs)
        turn = [{"role": "user", "msg": "hi"}, {"role": "ai", "msg": "hello"}]
        if path == "/stop_reply":  # a reply still being written, to stop
            turn[1] = {"role": "ai", "msg": "", "status": "streaming"}
        reply = api.call("/add_chats", user_id=user_id, chats=turn)
        assert reply["ok"] == 0, reply
        body["session_id"] = reply["session_id"]
    return body


def encode(body: Any) -> bytes:
    """Return ``body`` as UTF-8 JSON (not ASCII-escaped, so sizes are what they look like)."""
    return json.dumps(body, ensure_ascii=False).encode()


def send(api: Api, path: str, body: Any) -> httpx.Response:
    """POST ``body`` (bytes as they are, anything else as JSON) to ``path``."""
    content = body if isinstance(body, bytes) else encode(body)
    return api.post(path, content=content, headers={"content-type": "application/json"})


def check(
    response: httpx.Response,
    ok: int,
    *,
    field: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Assert ``response`` is the envelope with this ``ok`` and its status; return the body.

    ``field``: ``failed`` must start with ``"<field>:"``. ``request_id``: must be echoed.
    """
    assert response.status_code == STATUS[ok], (response.status_code, response.text)
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert response.headers.get("cache-control") == "no-store", response.headers
    if media_type == "text/event-stream" and ok == 0:  # a reply's stream: its start (§8.2)
        events = sse.parse(response.text)
        assert events[0].name == "start" and events[-1].name == "done", response.text
        body = events[0].data
    else:
        assert media_type == "application/json", response.headers
        body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("request_id"), str), body
    assert body["request_id"], body
    assert type(body.get("ok")) is int, body
    assert body["ok"] == ok, body
    assert isinstance(body.get("failed"), str), body
    if ok == 0:
        assert body["failed"] == "", body
    else:
        assert body["failed"] != "", body
    if field is not None:
        assert body["failed"].startswith(f"{field}:"), body
    if request_id is not None:
        assert body["request_id"] == request_id, body
    return body


def field_cases(kinds: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Return (path, field, kind) for every field of one of these kinds, on every path."""
    return [
        (path, name, kind)
        for path, fields in FIELDS.items()
        for name, kind in fields.items()
        if kind in kinds
    ]


# -- success and request_id ---------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_success_echoes_request_id(api: Api, path: str) -> None:
    body = valid(api, path)
    rid = fresh("r")
    check(send(api, path, {**body, "request_id": rid}), 0, request_id=rid)


@pytest.mark.parametrize("path", PATHS)
def test_success_without_request_id_gets_a_generated_one(api: Api, path: str) -> None:
    first = check(send(api, path, valid(api, path)), 0)
    second = check(send(api, path, valid(api, path)), 0)
    assert first["request_id"] != second["request_id"]


@pytest.mark.parametrize("path", PATHS)
def test_invalid_request_echoes_request_id(api: Api, path: str) -> None:
    rid = fresh("r")
    body = {**shaped(path), "user_id": "", "request_id": rid}
    check(send(api, path, body), 1, field="user_id", request_id=rid)


@pytest.mark.parametrize("path", UNKNOWN_USER_PATHS)
def test_not_found_echoes_request_id(api: Api, path: str) -> None:
    rid = fresh("r")
    check(send(api, path, {**shaped(path), "request_id": rid}), 2, request_id=rid)


@pytest.mark.parametrize("path", PATHS)
def test_failure_without_request_id_gets_a_generated_one(api: Api, path: str) -> None:
    body = {**shaped(path), "user_id": ""}
    first = check(send(api, path, body), 1, field="user_id")
    second = check(send(api, path, body), 1, field="user_id")
    assert first["request_id"] != second["request_id"]


@pytest.mark.parametrize(
    ("bad", "ok"),
    [
        (123, 1),
        (True, 1),
        ({"id": "r"}, 1),
        (["r"], 1),
        ("", 1),
        ("r\x00", 1),
        ("r" * 129, 6),
        ("r s", 1),
        ("r\u2028s", 1),
        ("请求", 1),
        ("r\x7f", 1),
        ("r\t", 1),
        ("r s" * 50, 1),  # too long too, but ok 1 wins
    ],
    ids=[
        *("int", "bool", "object", "array", "empty", "nul", "129-chars", "space", "u2028"),
        *("cjk", "del", "tab", "long-with-spaces"),
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_invalid_request_id_is_refused_and_replaced(api: Api, path: str, bad: Any, ok: int) -> None:
    reply = check(send(api, path, {**shaped(path), "request_id": bad}), ok, field="request_id")
    assert reply["request_id"] != bad


def test_request_id_of_128_printable_ascii_characters_is_echoed(api: Api) -> None:
    printable = "".join(chr(c) for c in range(0x21, 0x7F))  # ! to ~, 94 characters
    for rid in ("r" * 128, printable, printable[:34] * 3 + printable[:26], "a=b;c"):
        body = {**shaped("/add_user"), "request_id": rid}
        check(send(api, "/add_user", body), 0, request_id=rid)


def test_a_forged_request_id_never_reaches_the_log(api: Api, server_logs: Any) -> None:
    forged = "r1 route=/x ok=0\u2028request_id=evil route=/delete_sessions ok=0 status=200"
    body = {**shaped("/query_user_info"), "request_id": forged}
    reply = check(send(api, "/query_user_info", body), 1, field="request_id")
    generated = reply["request_id"]
    assert generated != forged
    server_logs.wait_for(f"request_id={generated} route=/query_user_info ok=1 status=400")
    assert "evil" not in server_logs.text and "\u2028" not in server_logs.text
    # /healthz takes its request id from X-Request-ID: the same rule.
    response = api.http.get("/healthz", headers={"x-request-id": "a b=c"})
    assert check(response, 0)["request_id"] != "a b=c"
    check(api.http.get("/healthz", headers={"x-request-id": "probe-1"}), 0, request_id="probe-1")


# -- paths and methods --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "path", ["/", "/nope", "/add_user/", "/Add_User", "/add_user/x", "/healthz/", "/add_chats2"]
)
def test_unknown_path_is_ok_2(api: Api, method: str, path: str) -> None:
    content = encode(shaped("/add_user")) if method == "POST" else None
    response = api.http.request(method, path, content=content)
    check(response, 2)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", PATHS)
def test_wrong_method_on_post_endpoint_is_ok_10(api: Api, path: str, method: str) -> None:
    check(api.http.request(method, path), 10)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/healthz", "/openapi.json"])
def test_wrong_method_on_get_route_is_ok_10(api: Api, path: str, method: str) -> None:
    check(api.http.request(method, path, content=b"{}"), 10)


# -- browsers: a foreign Origin, and with auth off a foreign Host (API.md §6) ---------------

GET_ROUTES = ("/healthz", "/openapi.json")
EVIL = {"origin": "http://evil.example", "content-type": "text/plain"}


def _request(api: Api, path: str, headers: dict[str, str], body: Any = None) -> httpx.Response:
    """GET a GET route; POST ``body`` (its well-formed one by default) to an endpoint."""
    if path in GET_ROUTES:
        return api.http.get(path, headers=headers)
    content = body if isinstance(body, bytes) else encode(body or shaped(path))
    return api.post(path, content=content, headers=headers)


@pytest.mark.parametrize("path", PATHS + GET_ROUTES)
def test_foreign_origin_is_ok_4_before_the_body_is_read(api: Api, path: str) -> None:
    # Over the body limit and not JSON too: the Origin answers first.
    check(_request(api, path, EVIL, b"\xff" * (2 * MIB)), 4, field="origin")


@pytest.mark.parametrize("origin", ["null", "http://127.0.0.1.evil.example", "file://"])
@pytest.mark.parametrize("path", ["/query_user_info", "/healthz"])
def test_other_foreign_origins_are_ok_4(api: Api, path: str, origin: str) -> None:
    check(_request(api, path, {"origin": origin}), 4, field="origin")


@pytest.mark.parametrize("path", PATHS + GET_ROUTES)
def test_foreign_host_is_ok_4_with_auth_off(api: Api, path: str) -> None:
    check(_request(api, path, {"host": "evil.example:8000"}), 4, field="host")


@pytest.mark.parametrize("path", PATHS + GET_ROUTES)
def test_own_origin_and_loopback_hosts_are_served(api: Api, path: str) -> None:
    port = api.base_url.rsplit(":", 1)[1]
    for headers in (
        {"origin": api.base_url},  # same origin: the server's own page
        {"host": f"localhost:{port}", "origin": f"http://localhost:{port}"},
        {"host": f"127.0.0.2:{port}"},
        {"host": f"[::1]:{port}"},
        {"host": "localhost"},
        {"user-agent": "Mozilla/5.0 MicroMessenger", "referer": "https://servicewechat.com/"},
    ):
        response = _request(api, path, headers, valid(api, path) if path in PATHS else None)
        if path == "/openapi.json":  # its own format, not the envelope
            assert response.status_code == 200 and "openapi" in response.json()
        else:
            check(response, 0)


def test_cross_site_delete_is_refused_and_deletes_nothing(api: Api) -> None:
    # The curl: a page's no-preflight POST to a local instance.
    user_id = api.new_user()
    check(send(api, "/add_chat", {"user_id": user_id, "role": "user", "msg": "keep me"}), 0)
    body = json.dumps({"user_id": user_id}).encode()
    check(api.post("/delete_sessions", content=body, headers=EVIL), 4, field="origin")
    names = check(send(api, "/query_session_names", {"user_id": user_id}), 0)
    assert len(names["sessions"]) == 1


def test_rebound_host_reads_nothing(api: Api) -> None:
    user_id = api.new_user()
    body = encode({"user_id": user_id})
    reply = check(
        api.post("/query_user_info", content=body, headers={"host": "evil.example:8000"}),
        4,
        field="host",
    )
    assert user_id not in json.dumps(reply)


def test_unknown_path_and_wrong_method_beat_a_foreign_origin(api: Api) -> None:
    check(api.post("/no_such_path", content=b"{}", headers=EVIL), 2)
    check(api.http.get("/add_chat", headers=EVIL), 10)
    check(api.http.post("/healthz", content=b"{}", headers={"host": "evil.example"}), 10)


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


# -- which error answers first (API.md §1) --------------------------------------------------


def _order_cases() -> list[tuple[str, dict[str, Any], int, str]]:
    uid = "order-user"  # need not exist: every case fails before the store is asked
    chat = {"user_id": uid, "role": "user", "msg": "hi"}
    return [
        ("/add_chat", {"role": "user", "msg": "m" * 65_537}, 1, "user_id"),
        ("/add_chat", {**chat, "user_id": "u" * 129, "msg": "a\x00"}, 1, "msg"),
        ("/add_chat", {**chat, "msg": "m" * 65_537, "role": "bot"}, 1, "role"),
        ("/add_chat", {**chat, "meta": {"k": "x" * 9_000}, "session_id": "a b"}, 1, "session_id"),
        ("/add_chat", {**chat, "msg": "m" * 65_537, "extra": 1}, 1, "extra"),
        ("/add_chat", {**chat, "request_id": "r" * 129, "msg": "a\x00"}, 1, "msg"),
        ("/add_chat", {**chat, "request_id": "r" * 129, "user_id": ""}, 1, "user_id"),
        ("/add_user", {"user_id": "", "request_id": "r" * 129}, 1, "user_id"),
        ("/add_user", {"user_id": uid, "user_name": "n" * 65, "phone": 5}, 1, "phone"),
        ("/add_user", {"user_id": "u" * 129, "email": "e\x00"}, 1, "email"),
        ("/query_session_info", {"user_id": uid, "session_id": "s" * 65, "limit": 0}, 1, "limit"),
        ("/query_session_names", {"user_id": "u" * 129, "cursor": "!!!"}, 1, "cursor"),
        ("/delete_sessions", {"user_id": "u\x01", "request_id": "r" * 129}, 1, "user_id"),
    ]


@pytest.mark.parametrize(("path", "body", "ok", "name"), _order_cases())
def test_field_invalid_beats_field_too_large(
    api: Api, path: str, body: dict[str, Any], ok: int, name: str
) -> None:
    check(send(api, path, body), ok, field=name)


def _before_not_found_cases() -> list[tuple[str, dict[str, Any], int, str]]:
    uid = "nobody-" + "x" * 20  # a user that does not exist
    return [
        ("/add_chat", {"user_id": uid, "role": "user", "msg": "m" * 65_537}, 6, "msg"),
        ("/add_chat", {"user_id": uid, "role": "user", "msg": "hi", "meta": []}, 1, "meta"),
        ("/query_user_info", {"user_id": "u" * 129}, 6, "user_id"),
        ("/query_session_names", {"user_id": uid, "limit": 1_001}, 1, "limit"),
        (
            "/query_session_info",
            {"user_id": uid, "session_id": "s", "before_seq": 0},
            1,
            "before_seq",
        ),
        ("/delete_specific_session", {"user_id": uid, "session_id": "s" * 65}, 6, "session_id"),
        ("/delete_sessions", {"user_id": uid, "request_id": "r" * 129}, 6, "request_id"),
    ]


@pytest.mark.parametrize(("path", "body", "ok", "name"), _before_not_found_cases())
def test_field_errors_beat_not_found(
    api: Api, path: str, body: dict[str, Any], ok: int, name: str
) -> None:
    check(send(api, path, body), ok, field=name)


def test_not_found_beats_conflict(api: Api) -> None:
    user_id = api.new_user()
    rid = fresh("r")
    chat = {"user_id": user_id, "role": "user", "msg": "hi", "request_id": rid}
    check(send(api, "/add_chat", chat), 0, request_id=rid)
    # The request_id is recorded: a different request with it is a conflict...
    check(send(api, "/add_chat", {**chat, "msg": "other"}), 5, request_id=rid)
    # ...but a session that does not exist answers first.
    body = {"user_id": user_id, "session_id": "no-such-session", "request_id": rid}
    check(send(api, "/delete_specific_session", body), 2, request_id=rid)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_method_beats_everything(api: Api, method: str) -> None:
    body = b"\xff not json " * (2 * MIB // 12)
    check(api.http.request(method, "/add_chat", content=body), 10)


def test_unknown_path_beats_body_limit(api: Api) -> None:
    check(api.post("/no_such_path", content=b"\xff" * (2 * MIB)), 2)


# -- internal errors ----------------------------------------------------------------------


@pytest.mark.parametrize("send_request_id", [True, False], ids=["given", "generated"])
@pytest.mark.parametrize("path", PATHS)
def test_unexpected_exception_is_ok_9_logged_and_never_leaked(
    api: Api,
    path: str,
    send_request_id: bool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "SELECT password FROM users WHERE id=1 -- /work/main/src/huihua/service.py line 9"

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(secret)

    body = valid(api, path)
    rid = fresh("r")
    if send_request_id:
        body["request_id"] = rid
    monkeypatch.setattr(huihua.service, SERVICE_FUNCTIONS[path], boom)
    caplog.set_level(logging.ERROR, logger="huihua")
    response = send(api, path, body)
    reply = check(response, 9, request_id=rid if send_request_id else None)
    rid = reply["request_id"]
    assert rid in reply["failed"]
    text = response.text
    for leak in ("Traceback", "RuntimeError", "SELECT", "password", "/work", ".py", 'File "'):
        assert leak not in text, text
    logged = [
        r
        for r in caplog.records
        if r.name.startswith("huihua") and r.levelno >= logging.ERROR and rid in r.getMessage()
    ]
    assert logged, [r.getMessage() for r in caplog.records]
    # The log names the exception and where it was raised, never its message: a driver's
    # message can quote the row it refused, and logs hold no user id in clear.
    assert any("RuntimeError" in r.getMessage() and "boom" in r.getMessage() for r in logged)
    assert not any(secret in r.getMessage() or r.exc_info for r in logged)


# -- /healthz -----------------------------------------------------------------------------


def test_healthz_is_ok_0_with_version_and_store(api: Api) -> None:
    reply = check(api.http.get("/healthz"), 0)
    assert reply["version"] == huihua.__version__
    assert reply["store"] == api.kind


def test_a_client_that_leaves_mid_body_is_no_internal_error(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api = serve("sqlite")
    host, port = api.base_url.removeprefix("http://").split(":")
    caplog.set_level(logging.INFO, logger="huihua")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /add_chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"user_id": "gone", "msg": "'
        )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(
        "status=499" in r.getMessage() for r in caplog.records
    ):
        time.sleep(0.05)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("huihua")]
    assert any("route=/add_chat ok=- status=499" in m for m in messages), messages
    assert not any("unexpected error" in m for m in messages), messages
