"""The endpoints' fields and the helpers of the envelope tests (test_envelope_*.py).

Those tests check the envelope on every reply, and which error answers first (API.md §1
and §2). Every rule there is one test parametrised over every endpoint it applies to, and
runs through the real HTTP server on SQLite, PostgreSQL and MariaDB (the ``api`` fixture).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import httpx

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
