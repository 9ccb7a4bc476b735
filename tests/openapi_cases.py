"""The statuses and field rules /openapi.json must state, the documents read, and helpers.

One store is enough: the document does not depend on it. It does depend on the settings:
``/login`` is listed only when served, ``security`` only with auth on (the fixtures here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import MODELS, SERVICE_KEY, login_settings, model_settings, secure_settings

if TYPE_CHECKING:
    from conftest import Api

    from .fake_model import FakeModel
    from .fake_wechat import FakeWeChat


# The failures each POST endpoint can answer with (API.md §1, §3, §6), auth off: invalid (1),
# a browser's foreign Origin or Host (4), too large (6), internal (9), storage (8); not found
# (2) where a user or session is looked up; a write's conflict (5). /login: WeChat's refusal
# (3) and throttling (7) whatever the auth. A POST is never answered 405.
_ANY = {"400", "403", "413", "500", "503"}
ERROR_STATUSES: dict[str, set[str]] = {
    "/add_user": _ANY | {"409"},
    "/query_user_info": _ANY | {"404"},
    "/add_chat": _ANY | {"404", "409"},
    "/add_chats": _ANY | {"404", "409"},
    "/update_chat": _ANY | {"404", "409"},  # 409: ok 5, or ok 11 (not an ai reply)
    "/delete_chat": _ANY | {"404", "409"},
    "/query_session_names": _ANY | {"404"},
    "/query_session_info": _ANY | {"404"},
    "/delete_specific_session": _ANY | {"404", "409"},
    "/delete_sessions": _ANY | {"404", "409"},
    "/delete_user": _ANY | {"404", "409"},
    "/export_user_data": _ANY | {"404"},
    "/search_chats": _ANY | {"404"},
    "/rename_session": _ANY | {"404", "409"},
    "/pin_session": _ANY | {"404", "409"},
    "/rate_chat": _ANY | {"404", "409"},  # 409: ok 5, or ok 11 (not an ai reply)
    "/login": _ANY | {"401", "429"},
    # 409: ok 5, or ok 11 (a reply already being generated, not an ai reply, finished);
    # 429: ok 7, the replies' limits and the daily quota
    "/ask_ai": _ANY | {"404", "409", "422", "429"},  # 422: the content check (ok 12)
    "/follow_reply": _ANY | {"404", "409"},
    "/stop_reply": _ANY | {"404", "409"},
    # API.md §9: no user or session named; 403 for a user token too
    "/list_users": _ANY,
    "/list_feedback": _ANY,
    "/usage_stats": _ANY,
}
# With auth on, a credential (3) and the rate limits (7) answer too.
AUTH_STATUSES = {"401", "429"}

# API.md §2: the rules of each request field (the non-null form of an optional one).
TEXT = {"type": "string"}
FIELD_RULES: dict[str, dict[str, Any]] = {
    "user_id": {**TEXT, "minLength": 1, "maxLength": 128},
    "session_id": {**TEXT, "minLength": 1, "maxLength": 64},
    "request_id": {**TEXT, "minLength": 1, "maxLength": 128, "pattern": "^[!-~]{1,128}$"},
    "msg": {**TEXT, "minLength": 0, "maxLength": 65536},  # "" where §5.1 allows it
    "reasoning": {**TEXT, "maxLength": 65536},
    "tool_call_id": {**TEXT, "minLength": 1, "maxLength": 128},
    "name": {**TEXT, "maxLength": 128},
    "chats": {"type": "array", "minItems": 1, "maxItems": 100},
    "parts": {"type": "array", "maxItems": 16},
    "tool_calls": {"type": "array", "maxItems": 32},
    "seq": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "from_seq": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "after_seq": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    "comment": {**TEXT, "maxLength": 1000},
    "user_name": {**TEXT, "maxLength": 64},
    "phone": {**TEXT, "maxLength": 32},
    "email": {**TEXT, "maxLength": 254},
    "session_title": {**TEXT, "maxLength": 100},
    "before_seq": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "meta": {"type": "object"},
    "code": {**TEXT, "minLength": 1, "maxLength": 128},
    "query": {**TEXT, "minLength": 1, "maxLength": 100},
    "pinned": {"type": "boolean"},
    "after": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    "model": {"type": "string", "enum": list(MODELS)},  # the configured ones
    "regenerate": {"type": "boolean"},
    "notify": {"type": "boolean"},
    "stream": {"type": "boolean"},
    "since": {"type": "string"},
    "days": {"type": "integer", "minimum": 1, "maximum": 366},
}
LIMITS = {  # path: (default, maximum)
    "/list_users": (20, 100),
    "/list_feedback": (20, 100),
    "/query_session_names": (100, 1000),
    "/query_session_info": (1000, 1000),
    "/search_chats": (20, 100),
}


def _get_doc(api: Api) -> dict[str, Any]:
    response = api.http.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/json"
    document = response.json()
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def sqlite_api(serve: Callable[..., Api], wechat: FakeWeChat, model: FakeModel) -> Api:
    """Auth off, every endpoint served (/login against the fake WeChat, the replies against
    the fake model)."""
    return serve("sqlite", **login_settings(wechat), **model_settings(model))


@pytest.fixture(scope="module")
def doc(sqlite_api: Api) -> dict[str, Any]:
    return _get_doc(sqlite_api)


@pytest.fixture(scope="module")
def secured_doc(serve: Callable[..., Api], wechat: FakeWeChat, model: FakeModel) -> dict[str, Any]:
    """The document of a server with auth on, read with the service key."""
    api = serve("sqlite", **secure_settings(wechat), **model_settings(model))
    api.http.headers["authorization"] = f"Bearer {SERVICE_KEY}"
    return _get_doc(api)


@pytest.fixture(scope="module")
def bare_doc(serve: Callable[..., Api]) -> dict[str, Any]:
    """The document of a server with auth off, no WeChat and no model: /login and the
    replies of §8 are not served."""
    return _get_doc(serve("sqlite"))


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Return ``schema`` with its ``$ref`` (if any) followed into the document."""
    seen = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        assert ref not in seen, f"$ref cycle at {ref}"
        seen.add(ref)
        node: Any = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
            node = node[part]
        schema = node
    return schema


def types_of(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Return the JSON types a (possibly nullable, ``anyOf``, ``enum``) schema allows, but null."""
    schema = resolve(doc, schema)
    found: set[str] = set()
    if "type" in schema:
        kinds = schema["type"]
        found |= set(kinds) if isinstance(kinds, list) else {kinds}
    if "enum" in schema:
        names = {bool: "boolean", int: "integer", str: "string", float: "number"}
        found |= {names.get(type(v), "null") for v in schema["enum"]}
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            found |= types_of(doc, option)
    return found - {"null"}


def json_schema(doc: dict[str, Any], holder: dict[str, Any]) -> dict[str, Any]:
    """Return the resolved application/json schema of a requestBody or a response."""
    content = holder.get("content", {})
    assert "application/json" in content, holder
    schema = resolve(doc, content["application/json"]["schema"])
    assert schema.get("type") == "object", schema
    return schema


def assert_fields(doc: dict[str, Any], schema: dict[str, Any], fields: dict[str, str]) -> None:
    properties = schema.get("properties", {})
    for name, kind in fields.items():
        assert name in properties, f"{name} missing from {sorted(properties)}"
        assert types_of(doc, properties[name]) == {kind}, (name, properties[name])


def walk_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from walk_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_refs(value)


def _non_null(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Return the rule of a field: the schema, or the non-null option of an optional one."""
    schema = resolve(doc, schema)
    if "anyOf" in schema:
        (rule,) = [o for o in schema["anyOf"] if o.get("type") != "null"]
        return resolve(doc, rule)
    return schema
