"""Assertions and constants shared by the test modules: the contract's code table, paths."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import uvicorn
from sqlalchemy import create_engine, insert

from huihua.http.endpoints import ENDPOINTS as TABLE
from huihua.store.engine import store_kind
from huihua.store.tables import chat_sessions

if TYPE_CHECKING:
    from .conftest import Api

# API.md §1: each ok code with its HTTP status.
STATUS = {
    0: 200,
    1: 400,
    2: 404,
    3: 401,
    4: 403,
    5: 409,
    6: 413,
    7: 429,
    8: 503,
    9: 500,
    10: 405,
    11: 409,
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Every suite that checks each endpoint takes them from the one table the app serves: an
# endpoint is checked as soon as it is registered.
ENDPOINTS = {e.path: e for e in TABLE}
POST_PATHS = tuple(ENDPOINTS)
MODEL_PATHS = {e.path for e in TABLE if e.model}  # served only with a model configured
_KINDS = {
    msgspec.inspect.StrType: "str",
    msgspec.inspect.IntType: "int",
    msgspec.inspect.BoolType: "bool",
    msgspec.inspect.DictType: "object",
    msgspec.inspect.ListType: "array",
    msgspec.inspect.LiteralType: "str",  # every literal of the contract is a string
}


def field_kinds(path: str) -> dict[str, str]:
    """Return each field of the endpoint's request with the JSON type it takes."""
    info = msgspec.inspect.type_info(ENDPOINTS[path].request)
    kinds = {}
    for field in info.fields:
        types = (
            field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        )
        (kind,) = {_KINDS[type(t)] for t in types if not isinstance(t, msgspec.inspect.NoneType)}
        kinds[field.encode_name] = kind
    return kinds


def required_fields(path: str) -> tuple[str, ...]:
    """Return the fields the endpoint's request must have."""
    info = msgspec.inspect.type_info(ENDPOINTS[path].request)
    return tuple(f.encode_name for f in info.fields if f.required)


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


def next_millisecond() -> None:
    """Return once the wall clock's millisecond is past the one it read on entry.

    The servers stamp writes with that clock (time.time_ns() // 1_000_000, in this process
    or on this machine), so a write after this call gets a later time than any before it.
    """
    entered = time.time_ns() // 1_000_000
    deadline = time.monotonic() + 5
    while time.time_ns() // 1_000_000 <= entered:
        if time.monotonic() > deadline:
            raise AssertionError("the wall clock did not move on in 5 s")
        time.sleep(0.0002)


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


def start_serve(cwd: Path, port: int) -> subprocess.Popen:
    """Start ``huihua serve --port PORT`` as a real process in ``cwd``, with
    no HUIHUA_* setting of the test run's, logging warnings and worse only; return it once
    ``/healthz`` answers 200 (it is killed, and the test fails, if it never does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "huihua", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    raise AssertionError("huihua serve did not start")


def insert_sessions(
    api: Api, user_id: str, rows: list[tuple[Any, ...]], *, created_before: int = 0
) -> None:
    """Write sessions straight into the test database: setup data for ties, which the clock
    cannot be made to give. A row is (session_id, updated_at) or (session_id, updated_at,
    pinned_at); each session was created ``created_before`` ms before its update."""
    engine = create_engine(store_kind(api.settings.database_url).url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(chat_sessions),
                [
                    {
                        "user_id": user_id,
                        "session_id": sid,
                        "session_title": f"title {sid}",
                        "chat_count": 0,
                        "created_at": updated - created_before,
                        "updated_at": updated,
                        "pinned_at": pinned[0] if pinned else None,
                    }
                    for sid, updated, *pinned in rows
                ],
            )
    finally:
        engine.dispose()
