"""Assertions and constants shared by the test modules: the contract's code table, paths."""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from .conftest import Api

# API.md §1: each ok code with its HTTP status.
STATUS = {0: 200, 1: 400, 2: 404, 3: 401, 4: 403, 5: 409, 6: 413, 7: 429, 8: 503, 9: 500, 10: 405}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
POST_PATHS = (
    "/add_user",
    "/query_user_info",
    "/add_chat",
    "/query_session_names",
    "/query_session_info",
    "/delete_specific_session",
    "/delete_sessions",
)


def ok(api: Api, path: str, **fields: Any) -> dict[str, Any]:
    """POST the fields; check the reply is a success; return it."""
    response = api.post(path, fields)
    body = response.json()
    assert body["ok"] == 0, body
    assert body["failed"] == "", body
    assert response.status_code == 200, body
    return body


def fails(api: Api, path: str, code: int, **fields: Any) -> dict[str, Any]:
    """POST the fields; check the reply is failure ``code`` with its status; return it."""
    response = api.post(path, fields)
    body = response.json()
    assert body["ok"] == code, body
    assert response.status_code == STATUS[code], body
    assert isinstance(body["failed"], str) and body["failed"], body
    assert isinstance(body["request_id"], str) and body["request_id"], body
    return body


def start_in_thread(config: uvicorn.Config, what: str) -> tuple[uvicorn.Server, threading.Thread]:
    """Start a uvicorn server in a daemon thread; return once it listens."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)
    return server, thread
