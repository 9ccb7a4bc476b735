"""GET /openapi.json against real replies, so that it cannot drift from what the server does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from .helpers import ENDPOINTS, POST_PATHS
from .openapi_cases import doc as doc  # a fixture: pytest finds it by name
from .openapi_cases import json_schema
from .openapi_cases import sqlite_api as sqlite_api  # a fixture: pytest finds it by name
from .openapi_fields import ITEM_FIELDS, REPLY_FIELDS

if TYPE_CHECKING:
    from conftest import Api


# -- the document against real replies ------------------------------------------------------


def _documented(doc: dict[str, Any], path: str, status: str) -> set[str]:
    responses = doc["paths"][path]["post"]["responses"]
    return set(json_schema(doc, responses[status]).get("properties", {}))


def test_real_replies_carry_only_documented_fields(doc: dict[str, Any], sqlite_api: Api) -> None:
    api = sqlite_api
    user_id = api.new_user()
    chat = api.call("/add_chat", user_id=user_id, role="user", msg="hi", meta={"model": "m"})
    session_id = chat["session_id"]
    replies = {
        "/add_user": api.call("/add_user", user_id=user_id, user_name="n"),
        "/query_user_info": api.call("/query_user_info", user_id=user_id),
        "/add_chat": chat,
        "/query_session_names": api.call("/query_session_names", user_id=user_id),
        "/query_session_info": api.call(
            "/query_session_info", user_id=user_id, session_id=session_id
        ),
        "/delete_specific_session": api.call(
            "/delete_specific_session", user_id=user_id, session_id=session_id
        ),
        "/delete_sessions": api.call("/delete_sessions", user_id=user_id),
        "/list_users": api.call("/list_users", query=user_id),
        "/list_feedback": api.call("/list_feedback"),
        "/usage_stats": api.call("/usage_stats", days=2),
    }
    for path, reply in replies.items():
        assert reply["ok"] == 0, (path, reply)
        documented = _documented(doc, path, "200")
        assert set(reply) <= documented, (path, set(reply) - documented)
        assert set(REPLY_FIELDS[path]) <= set(reply), (path, reply)
    for (path, name), fields in ITEM_FIELDS.items():
        for item in replies[path][name]:
            assert set(item) <= set(fields), (path, item)
    # a message with every field of §5.1 set carries them all, each documented
    turn = [
        {"role": "user", "msg": "q", "parts": [{"type": "image", "url": "https://a.example/x"}]},
        {
            "role": "ai",
            "msg": "",
            "reasoning": "r",
            "status": "streaming",
            "tool_calls": [{"id": "c", "name": "n", "arguments": "{}"}],
        },
        {"role": "tool", "msg": "out", "tool_call_id": "c", "name": "n"},
    ]
    sid = api.call("/add_chats", user_id=user_id, chats=turn)["session_id"]
    assert api.call("/update_chat", user_id=user_id, session_id=sid, seq=2, msg="a")["ok"] == 0
    rated = api.call(
        "/rate_chat", user_id=user_id, session_id=sid, seq=2, rating="like", comment="c"
    )
    assert rated["ok"] == 0
    chats = api.call("/query_session_info", user_id=user_id, session_id=sid)["chats"]
    assert set().union(*chats) == set(ITEM_FIELDS["/query_session_info", "chats"])
    missing = api.call("/query_user_info", user_id="no-such-user")
    assert missing["ok"] == 2
    assert set(missing) <= _documented(doc, "/query_user_info", "404")


@pytest.mark.parametrize("path", POST_PATHS)
def test_the_example_is_a_valid_request_and_documented(doc: dict[str, Any], path: str) -> None:
    endpoint = ENDPOINTS[path]
    msgspec.convert(dict(endpoint.example), endpoint.request)  # raises if it is not one
    media = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    assert media["example"] == dict(endpoint.example)
