"""The envelope of a reply: success, the request_id echoed or replaced, unknown paths, methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .envelope_cases import PATHS, UNKNOWN_USER_PATHS, check, encode, fresh, send, shaped, valid

if TYPE_CHECKING:
    from conftest import Api


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
