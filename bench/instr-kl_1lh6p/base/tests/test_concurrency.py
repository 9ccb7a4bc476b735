"""Concurrent writes (API.md §3, §4): seqs without gaps or repeats, one session, one user.

Every request here is sent at once with the others, each on its own HTTP connection, to the
real server on SQLite (group commit), PostgreSQL and MariaDB (pooled, retried).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.conftest import Api

N = 32


def assert_each_reply_names_its_stored_seq(
    requests: list[tuple[str, dict[str, Any]]], replies: list[dict[str, Any]], info: dict[str, Any]
) -> None:
    """Each reply's seq is the seq its own message was stored at."""
    stored = {c["msg"]: c["seq"] for c in info["chats"]}
    for (_, body), reply in zip(requests, replies, strict=True):
        assert stored[body["msg"]] == reply["seq"]


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:16]}"


async def _post_all(base_url: str, requests: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=len(requests))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(client.post(path, json=body) for path, body in requests))


def post_all(api: Api, requests: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """POST every (path, body) at once; return the reply bodies in order, each checked 200."""
    responses = asyncio.run(_post_all(api.base_url, requests))
    bodies = []
    for response in responses:
        body = response.json()
        assert response.status_code == 200, body
        assert body["ok"] == 0, body
        bodies.append(body)
    return bodies


def session_info(api: Api, user_id: str, session_id: str) -> dict[str, Any]:
    reply = api.call("/query_session_info", user_id=user_id, session_id=session_id)
    assert reply["ok"] == 0, reply
    return reply


def sessions(api: Api, user_id: str) -> list[dict[str, Any]]:
    reply = api.call("/query_session_names", user_id=user_id, limit=1000)
    assert reply["ok"] == 0, reply
    return reply["sessions"]


def test_concurrent_appends_to_one_session_get_every_seq_once(api: Api, user: str) -> None:
    session_id = sid()
    opened = api.call("/add_chat", user_id=user, session_id=session_id, role="user", msg="m0")
    assert opened["ok"] == 0 and opened["seq"] == 1
    requests = [
        (
            "/add_chat",
            {"user_id": user, "session_id": session_id, "role": "ai", "msg": f"m{i}"},
        )
        for i in range(1, N + 1)
    ]
    replies = post_all(api, requests)
    assert all(r["session_id"] == session_id for r in replies)
    assert sorted(r["seq"] for r in replies) == list(range(2, N + 2))
    info = session_info(api, user, session_id)
    assert [c["seq"] for c in info["chats"]] == list(range(1, N + 2))
    assert_each_reply_names_its_stored_seq(requests, replies, info)
    [row] = sessions(api, user)
    assert row["chat_count"] == N + 1


def test_concurrent_appends_naming_the_same_new_session_make_one_session(
    api: Api, user: str
) -> None:
    session_id = sid()
    requests = [
        (
            "/add_chat",
            {"user_id": user, "session_id": session_id, "role": "user", "msg": f"m{i}"},
        )
        for i in range(1, N + 1)
    ]
    replies = post_all(api, requests)
    assert all(r["session_id"] == session_id for r in replies)
    assert sorted(r["seq"] for r in replies) == list(range(1, N + 1))
    info = session_info(api, user, session_id)
    assert [c["seq"] for c in info["chats"]] == list(range(1, N + 1))
    assert_each_reply_names_its_stored_seq(requests, replies, info)
    [row] = sessions(api, user)
    assert row["session_id"] == session_id
    assert row["chat_count"] == N
    # The title comes from the first message stored (seq 1), whichever request that was.
    assert info["session_title"] == info["chats"][0]["msg"]


def test_concurrent_writes_of_different_users_all_succeed(api: Api) -> None:
    users = [api.new_user() for _ in range(8)]
    existing = {}
    for user_id in users:
        opened = api.call("/add_chat", user_id=user_id, session_id=sid(), role="user", msg="o")
        assert opened["ok"] == 0
        existing[user_id] = opened["session_id"]
    named = {user_id: sid() for user_id in users}
    requests: list[tuple[str, dict[str, Any]]] = []
    for user_id in users:
        for i in range(3):
            requests.append(
                (
                    "/add_chat",
                    {
                        "user_id": user_id,
                        "session_id": existing[user_id],
                        "role": "ai",
                        "msg": f"a{i}",
                    },
                )
            )
        requests.append(
            (
                "/add_chat",
                {"user_id": user_id, "session_id": named[user_id], "role": "user", "msg": "n"},
            )
        )
        requests.append(("/add_chat", {"user_id": user_id, "role": "user", "msg": "g"}))
    replies = post_all(api, requests)
    assert len(replies) == 5 * len(users)
    for user_id in users:
        info = session_info(api, user_id, existing[user_id])
        assert [c["seq"] for c in info["chats"]] == [1, 2, 3, 4]
        assert [c["seq"] for c in session_info(api, user_id, named[user_id])["chats"]] == [1]
        rows = sessions(api, user_id)
        assert len(rows) == 3
        assert sorted(r["chat_count"] for r in rows) == [1, 1, 4]


def test_concurrent_add_user_of_one_new_user_creates_it_once(api: Api) -> None:
    user_id = f"u-{uuid.uuid4().hex}"
    requests = [("/add_user", {"user_id": user_id, "user_name": f"n{i}"}) for i in range(N)]
    replies = post_all(api, requests)
    assert [r["user_id"] for r in replies] == [user_id] * N
    assert sum(r["created"] is True for r in replies) == 1
    assert sum(r["created"] is False for r in replies) == N - 1
    info = api.call("/query_user_info", user_id=user_id)
    assert info["ok"] == 0
    assert info["user_name"] in {f"n{i}" for i in range(N)}
