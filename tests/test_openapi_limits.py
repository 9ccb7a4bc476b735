"""GET /openapi.json states the limits of API.md §2, as the settings and the checks have them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from huihua.http.openapi import build_openapi
from huihua.wire.rules import Checker, Limits

from .helpers import ENDPOINTS, POST_PATHS
from .openapi_cases import FIELD_RULES, LIMITS, TEXT, _non_null, json_schema
from .openapi_cases import doc as doc  # a fixture: pytest finds it by name
from .openapi_cases import sqlite_api as sqlite_api  # a fixture: pytest finds it by name

# -- the limits of API.md §2 ------------------------------------------------------------------


@pytest.mark.parametrize("path", POST_PATHS)
def test_request_fields_carry_their_limits(doc: dict[str, Any], path: str) -> None:
    schema = json_schema(doc, doc["paths"][path]["post"]["requestBody"])
    for name, prop in schema["properties"].items():
        rule = _non_null(doc, prop)
        if name == "limit":
            default, most = LIMITS[path]
            assert rule == {"type": "integer", "minimum": 1, "maximum": most}, rule
            assert prop["default"] == default
            continue
        if name == "session_id" and path in ("/add_chat", "/add_chats", "/ask_ai"):  # "": new
            assert rule["maxLength"] == 64 and rule.get("minLength", 0) == 0
            continue
        expected = FIELD_RULES.get(name)
        if (path, name) == ("/list_users", "query"):  # a prefix of a user id, or "": all
            expected = {**TEXT, "minLength": 0, "maxLength": 128}
        if expected is None:
            assert name in ("cursor", "role", "status", "rating"), name  # enums: own tests
            continue
        assert {k: rule.get(k) for k in expected} == expected, (name, rule)
        if name in ("msg", "user_name", "phone", "email", "session_title"):
            assert not re.search(rule["pattern"], "a\x00b"), (name, "U+0000")
        if name == "meta":
            assert "8192 bytes" in prop.get("description", "") + rule.get("description", "")


PATTERN_CASES = {
    "user_id": {"u1": True, "微信 openid": True, "a\tb": False, "a\x7fb": False, "x\x85": False},
    "session_id": {
        "s-1_A": True,
        "user:42:chat.1": True,
        "a,b": False,
        "a b": False,
        "é": False,
        "x" * 64: True,
    },
    "request_id": {"uuxx": True, "a=b;c": True, "a b": False, "é": False, "a\u2028": False},
}


@pytest.mark.parametrize("name", sorted(PATTERN_CASES))
def test_patterns_say_what_the_rules_enforce(doc: dict[str, Any], name: str) -> None:
    schema = json_schema(doc, doc["paths"]["/query_session_info"]["post"]["requestBody"])
    rule = _non_null(doc, schema["properties"][name])
    for value, allowed in PATTERN_CASES[name].items():
        assert bool(re.search(rule["pattern"], value)) is allowed, (name, value)
        if name == "request_id":
            continue  # the server's check is tightened to the pattern in another branch
        checker = Checker()
        getattr(checker, name)(value)
        assert (checker.invalid is None) is allowed, (name, value, checker.invalid)


def test_the_limits_follow_the_settings() -> None:
    document = build_openapi(
        tuple(ENDPOINTS.values()),
        auth=False,
        limits=Limits(max_msg_chars=10, max_meta_bytes=99, max_profile_bytes=77),
    )
    schemas = document["components"]["schemas"]
    assert schemas["AddChatRequest"]["properties"]["msg"]["maxLength"] == 10
    assert "99 bytes" in schemas["AddChatRequest"]["properties"]["meta"]["description"]
    assert "77 bytes" in schemas["AddUserRequest"]["description"]


def test_profile_fields_may_not_take_reserved_names(doc: dict[str, Any]) -> None:
    schema = json_schema(doc, doc["paths"]["/add_user"]["post"]["requestBody"])
    forbidden = set(schema["propertyNames"]["not"]["enum"])
    assert {"ok", "failed", "created_at", "updated_at"} <= forbidden
    assert not forbidden & set(schema["properties"])


def test_links_lead_from_a_reply_to_the_next_call(doc: dict[str, Any]) -> None:
    links = doc["paths"]["/add_chat"]["post"]["responses"]["200"]["links"]
    body = links["QuerySessionInfo"]["requestBody"]
    assert links["QuerySessionInfo"]["operationId"] == "query_session_info"
    assert body["session_id"] == "$response.body#/session_id"
    names = doc["paths"]["/query_session_names"]["post"]["responses"]["200"]["links"]
    assert names["NextPage"]["requestBody"]["cursor"] == "$response.body#/next_cursor"
    ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    for item in doc["paths"].values():
        for op in item.values():
            for link in op["responses"]["200"].get("links", {}).values():
                assert link["operationId"] in ids, link
