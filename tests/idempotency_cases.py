"""The calls and checks the idempotency tests share (test_idempotency_*.py, API.md §4).

A ``request_id`` makes every write safe to retry. The server records (user_id, request_id)
with a fingerprint of the request and its reply in the write's own transaction: a retry gets
the recorded reply byte for byte and writes nothing; the same id with a different request is
ok 5 / 409 and writes nothing; reads record nothing; a failed write records nothing;
identical requests in flight at once write once. Every test runs on SQLite, PostgreSQL and
MariaDB through the real server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

from tests.conftest import Api

IN_FLIGHT = 20


def rid() -> str:
    return f"r-{uuid.uuid4().hex}"


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:16]}"


def raw(api: Api, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST ``body`` serialised with its keys in the order given."""
    return api.post(
        path, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


def messages(api: Api, user_id: str, session_id: str) -> list[dict[str, Any]]:
    reply = api.call("/query_session_info", user_id=user_id, session_id=session_id)
    assert reply["ok"] == 0, reply
    return reply["chats"]


def sessions(api: Api, user_id: str) -> list[dict[str, Any]]:
    reply = api.call("/query_session_names", user_id=user_id, limit=1000)
    assert reply["ok"] == 0, reply
    return reply["sessions"]


def assert_ok(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] == 0, body
    assert body["failed"] == ""
    return body


def assert_conflict(response: httpx.Response, request_id: str) -> None:
    body = response.json()
    assert response.status_code == 409, body
    assert body["ok"] == 5, body
    assert body["request_id"] == request_id
    assert "request_id" in body["failed"]


async def _post_all(base_url: str, path: str, bodies: list[dict[str, Any]]) -> list[Any]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(client.post(path, json=b) for b in bodies))


def post_all(api: Api, path: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST every body at once, each on its own connection; return the responses in order."""
    return asyncio.run(_post_all(api.base_url, path, bodies))
