"""Which error answers first (API.md §1), an internal error's ok 9, and /healthz."""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING, Any

import pytest

import huihua
import huihua.service

from .envelope_cases import MIB, PATHS, SERVICE_FUNCTIONS, check, fresh, send, valid

if TYPE_CHECKING:
    from conftest import Api


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
