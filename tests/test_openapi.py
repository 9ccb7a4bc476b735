"""GET /openapi.json describes every endpoint served, with the fields, limits and statuses
of API.md §1-§3.

One store is enough: the document does not depend on it. It does depend on the settings:
``/login`` is listed only when served, ``security`` only with auth on. The last tests check
the document against real replies and against the checks, so that it cannot drift from what
the server does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

import huihua
from huihua.http.openapi import build_openapi
from huihua.wire.rules import Checker, Limits

from .conftest import MODELS, SERVICE_KEY, login_settings, model_settings, secure_settings
from .helpers import ENDPOINTS, POST_PATHS

if TYPE_CHECKING:
    from conftest import Api

    from .fake_model import FakeModel
    from .fake_wechat import FakeWeChat

WRITE_PATHS = (
    "/add_user",
    "/add_chat",
    "/add_chats",
    "/update_chat",
    "/delete_chat",
    "/rename_session",
    "/pin_session",
    "/rate_chat",
    "/delete_specific_session",
    "/delete_sessions",
    "/delete_user",
    "/ask_ai",
    "/stop_reply",
)

# API.md §3: each request's fields with their JSON type, and which are required.
REQUEST_FIELDS: dict[str, dict[str, str]] = {
    "/add_user": {
        "user_id": "string",
        "user_name": "string",
        "phone": "string",
        "email": "string",
        "request_id": "string",
    },
    "/query_user_info": {"user_id": "string", "request_id": "string"},
    "/add_chat": {
        "user_id": "string",
        "role": "string",
        "msg": "string",
        "session_id": "string",
        "session_title": "string",
        "meta": "object",
        "request_id": "string",
        # API.md §5.1
        "parts": "array",
        "reasoning": "string",
        "tool_calls": "array",
        "tool_call_id": "string",
        "name": "string",
        "status": "string",
    },
    "/add_chats": {
        "user_id": "string",
        "chats": "array",
        "session_id": "string",
        "session_title": "string",
        "request_id": "string",
    },
    "/update_chat": {
        "user_id": "string",
        "session_id": "string",
        "seq": "integer",
        "msg": "string",
        "parts": "array",
        "reasoning": "string",
        "tool_calls": "array",
        "meta": "object",
        "status": "string",
        "request_id": "string",
    },
    "/delete_chat": {
        "user_id": "string",
        "session_id": "string",
        "seq": "integer",
        "from_seq": "integer",
        "request_id": "string",
    },
    "/query_session_names": {
        "user_id": "string",
        "limit": "integer",
        "cursor": "string",
        "request_id": "string",
    },
    "/query_session_info": {
        "user_id": "string",
        "session_id": "string",
        "limit": "integer",
        "before_seq": "integer",
        "after_seq": "integer",
        "request_id": "string",
    },
    "/delete_specific_session": {
        "user_id": "string",
        "session_id": "string",
        "request_id": "string",
    },
    "/delete_sessions": {"user_id": "string", "request_id": "string"},
    "/delete_user": {"user_id": "string", "request_id": "string"},
    "/export_user_data": {"user_id": "string", "request_id": "string"},
    "/search_chats": {
        "user_id": "string",
        "query": "string",
        "limit": "integer",
        "cursor": "string",
        "session_id": "string",
        "request_id": "string",
    },
    "/rename_session": {
        "user_id": "string",
        "session_id": "string",
        "session_title": "string",
        "request_id": "string",
    },
    "/pin_session": {
        "user_id": "string",
        "session_id": "string",
        "pinned": "boolean",
        "request_id": "string",
    },
    "/rate_chat": {
        "user_id": "string",
        "session_id": "string",
        "seq": "integer",
        "rating": "string",
        "comment": "string",
        "request_id": "string",
    },
    "/login": {"code": "string", "request_id": "string"},
    # API.md §8
    "/ask_ai": {
        "user_id": "string",
        "session_id": "string",
        "session_title": "string",
        "msg": "string",
        "parts": "array",
        "meta": "object",
        "model": "string",
        "regenerate": "boolean",
        "notify": "boolean",
        "stream": "boolean",
        "request_id": "string",
    },
    "/follow_reply": {
        "user_id": "string",
        "session_id": "string",
        "seq": "integer",
        "after": "integer",
        "request_id": "string",
    },
    "/stop_reply": {
        "user_id": "string",
        "session_id": "string",
        "seq": "integer",
        "request_id": "string",
    },
    # API.md §9
    "/list_users": {"query": "string", "limit": "integer", "cursor": "string"}
    | {"request_id": "string"},
    "/list_feedback": {"rating": "string", "since": "string", "limit": "integer"}
    | {"cursor": "string", "request_id": "string"},
    "/usage_stats": {"days": "integer", "request_id": "string"},
}
REQUIRED = {
    "/add_user": {"user_id"},
    "/query_user_info": {"user_id"},
    "/add_chat": {"user_id", "role", "msg"},
    "/add_chats": {"user_id", "chats"},
    "/update_chat": {"user_id", "session_id", "seq"},
    "/delete_chat": {"user_id", "session_id"},
    "/query_session_names": {"user_id"},
    "/query_session_info": {"user_id", "session_id"},
    "/delete_specific_session": {"user_id", "session_id"},
    "/delete_sessions": {"user_id"},
    "/delete_user": {"user_id"},
    "/export_user_data": {"user_id"},
    "/search_chats": {"user_id", "query"},
    "/rename_session": {"user_id", "session_id", "session_title"},
    "/pin_session": {"user_id", "session_id", "pinned"},
    "/rate_chat": {"user_id", "session_id", "seq", "rating"},
    "/login": {"code"},
    "/ask_ai": {"user_id"},
    "/follow_reply": {"user_id", "session_id", "seq"},
    "/stop_reply": {"user_id", "session_id", "seq"},
    "/list_users": set(),
    "/list_feedback": set(),
    "/usage_stats": set(),
}

# API.md §1 and §3: the fields of each reply with their JSON type.
ENVELOPE = {"request_id": "string", "ok": "integer", "failed": "string"}
REPLY_FIELDS: dict[str, dict[str, str]] = {
    "/add_user": {"user_id": "string", "created": "boolean"},
    "/query_user_info": {
        "user_id": "string",
        "user_name": "string",
        "phone": "string",
        "email": "string",
        "created_at": "string",
        "updated_at": "string",
    },
    "/add_chat": {"session_id": "string", "seq": "integer", "created_at": "string"},
    "/add_chats": {"session_id": "string", "seqs": "array", "created_at": "string"},
    "/update_chat": {"seq": "integer", "updated_at": "string"},
    "/delete_chat": {"deleted": "integer"},
    "/query_session_names": {"sessions": "array", "next_cursor": "string"},
    "/query_session_info": {
        "user_id": "string",
        "session_id": "string",
        "session_title": "string",
        "chats": "array",
        "has_more": "boolean",
    },
    "/delete_specific_session": {},
    "/delete_sessions": {"deleted": "integer"},
    "/delete_user": {},
    "/export_user_data": {"user": "object", "sessions": "array"},
    "/search_chats": {"results": "array", "next_cursor": "string"},
    "/rename_session": {"session_id": "string", "session_title": "string"},
    "/pin_session": {"session_id": "string", "pinned": "boolean"},
    "/rate_chat": {"seq": "integer", "rating": "string"},
    "/login": {
        "user_id": "string",
        "token": "string",
        "expires_at": "string",
        "created": "boolean",
    },
    # API.md §8: the start event's data (or stream: false's reply); a follow's is the ask's
    "/ask_ai": {"session_id": "string", "seqs": "array", "created_at": "string"},
    "/follow_reply": {},
    "/stop_reply": {"seq": "integer", "status": "string"},
    "/list_users": {"users": "array", "next_cursor": "string"},
    "/list_feedback": {"feedback": "array", "next_cursor": "string"},
    "/usage_stats": {"days": "array", "totals": "object"},
}
ITEM_FIELDS = {
    ("/list_users", "users"): {
        "user_id": "string",
        "user_name": "string",
        "phone": "string",
        "email": "string",
        "created_at": "string",
        "updated_at": "string",
        "session_count": "integer",
        "message_count": "integer",
        "last_active_at": "string",
    },
    ("/list_feedback", "feedback"): {
        "user_id": "string",
        "session_id": "string",
        "session_title": "string",
        "seq": "integer",
        "rating": "string",
        "comment": "string",
        "msg": "string",
        "question": "string",
        "rated_at": "string",
    },
    ("/usage_stats", "days"): {
        "date": "string",
        "messages": "integer",
        "active_users": "integer",
        "new_users": "integer",
        "replies": "object",
        "tokens": "object",
        "likes": "integer",
        "dislikes": "integer",
    },
    ("/query_session_names", "sessions"): {
        "session_id": "string",
        "session_title": "string",
        "created_at": "string",
        "updated_at": "string",
        "chat_count": "integer",
        # API.md §5.4
        "pinned": "boolean",
    },
    ("/query_session_info", "chats"): {
        "role": "string",
        "msg": "string",
        "seq": "integer",
        "created_at": "string",
        "meta": "object",
        # API.md §5.1: left out at their default
        "parts": "array",
        "reasoning": "string",
        "tool_calls": "array",
        "tool_call_id": "string",
        "name": "string",
        "status": "string",
        "updated_at": "string",
        # API.md §5.4
        "rating": "string",
        "comment": "string",
    },
}
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


# -- the document -------------------------------------------------------------------------


def test_is_openapi_3_with_the_version(doc: dict[str, Any]) -> None:
    assert str(doc["openapi"]).startswith("3."), doc["openapi"]
    assert doc["info"]["title"]
    assert doc["info"]["version"] == huihua.__version__


def test_every_endpoint_is_described(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    for path in POST_PATHS:
        assert path in paths, sorted(paths)
        assert "post" in paths[path], paths[path]
        assert set(paths[path]) - {"post", "summary", "description", "parameters"} == set()
    assert "get" in paths["/healthz"]


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    refs = list(walk_refs(doc))
    assert refs
    for ref in refs:
        resolve(doc, {"$ref": ref})


def test_operation_ids_are_unique(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize("path", POST_PATHS)
def test_request_body_lists_the_fields(doc: dict[str, Any], path: str) -> None:
    body = doc["paths"][path]["post"]["requestBody"]
    assert body.get("required") is True
    schema = json_schema(doc, body)
    assert_fields(doc, schema, REQUEST_FIELDS[path])
    required = set(schema.get("required", []))
    assert REQUIRED[path] <= required, required
    optional = set(REQUEST_FIELDS[path]) - REQUIRED[path] - {"user_name"}
    assert not (required & optional), required & optional
    if path == "/add_user":
        # Further profile fields are kept (API.md §3).
        assert schema.get("additionalProperties", True) is not False
    else:
        # Unknown top-level fields are an error (API.md §2).
        assert schema.get("additionalProperties") is False


def test_roles_and_statuses_are_the_contracts(doc: dict[str, Any]) -> None:
    schema = json_schema(doc, doc["paths"]["/add_chat"]["post"]["requestBody"])
    role = resolve(doc, schema["properties"]["role"])
    assert set(role["enum"]) == {"user", "ai", "system", "tool"}
    status = _non_null(doc, schema["properties"]["status"])
    assert set(status["enum"]) == {"complete", "streaming", "failed", "cancelled"}


def test_the_parts_and_tool_calls_of_a_message_carry_their_limits(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    part = schemas["Part"]["properties"]
    url = part["url"]
    assert (url["minLength"], url["maxLength"]) == (1, 2048)
    for value, allowed in {
        "https://a.example/x.png": True,
        "HTTPS://a.example/x": True,
        "cloud://env.bucket/f.jpg": True,
        "http://a.example/x": False,
        "data:image/png;base64,AA": False,
        "https://a b": False,
    }.items():
        assert bool(re.search(url["pattern"], value)) is allowed, value
    assert _non_null(doc, part["mime"])["maxLength"] == 128
    assert _non_null(doc, part["name"])["maxLength"] == 256
    assert _non_null(doc, part["size"])["minimum"] == 0
    assert set(part["type"]["enum"]) == {"image", "audio", "video", "file"}
    call = schemas["ToolCall"]["properties"]
    assert (call["id"]["minLength"], call["id"]["maxLength"]) == (1, 128)
    assert call["arguments"]["maxLength"] == 65536
    chat_in = schemas["ChatIn"]
    assert set(chat_in["required"]) == {"role", "msg"}
    assert "tool_call_id is required" in chat_in["description"]


@pytest.mark.parametrize("path", POST_PATHS)
def test_success_reply_lists_the_fields(doc: dict[str, Any], path: str) -> None:
    responses = doc["paths"][path]["post"]["responses"]
    assert "200" in responses, sorted(responses)
    if path == "/follow_reply":  # events only (test_a_reply_is_described_as_an_event_stream)
        return
    schema = json_schema(doc, responses["200"])
    assert_fields(doc, schema, {**ENVELOPE, **REPLY_FIELDS[path]})
    for (item_path, name), fields in ITEM_FIELDS.items():
        if item_path == path:
            items = resolve(doc, schema["properties"][name]["items"])
            assert_fields(doc, items, fields)
    if path == "/query_user_info":
        # Further profile fields come back at top level (API.md §3).
        assert schema.get("additionalProperties", True) is not False


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "auth-on"])
@pytest.mark.parametrize("path", POST_PATHS)
def test_error_replies_are_the_statuses_the_route_answers(
    doc: dict[str, Any], secured_doc: dict[str, Any], path: str, auth: bool
) -> None:
    document = secured_doc if auth else doc
    responses = document["paths"][path]["post"]["responses"]
    expected = ERROR_STATUSES[path] | (AUTH_STATUSES if auth else set())
    assert set(responses) == {"200"} | expected, path
    for status in expected:
        assert responses[status].get("description"), responses[status]
        assert_fields(document, json_schema(document, responses[status]), ENVELOPE)
    assert ("409" in responses) == (path in WRITE_PATHS or path == "/follow_reply")  # ok 11


def test_healthz_reply_lists_version_and_store(doc: dict[str, Any]) -> None:
    responses = doc["paths"]["/healthz"]["get"]["responses"]
    assert set(responses) == {"200", "403", "503"}
    fields = {**ENVELOPE, "version": "string", "store": "string"}
    assert_fields(doc, json_schema(doc, responses["200"]), fields)
    assert_fields(doc, json_schema(doc, responses["503"]), ENVELOPE)


def test_openapi_json_declares_its_own_failures(
    doc: dict[str, Any], secured_doc: dict[str, Any]
) -> None:
    # API.md §6: with auth on it needs the service key (401 without, 403 for a user token).
    assert set(doc["paths"]["/openapi.json"]["get"]["responses"]) == {"200", "403"}
    responses = secured_doc["paths"]["/openapi.json"]["get"]["responses"]
    assert set(responses) == {"200", "401", "403"}
    for status in ("401", "403"):
        assert_fields(secured_doc, json_schema(secured_doc, responses[status]), ENVELOPE)
    assert secured_doc["paths"]["/openapi.json"]["get"]["security"] == [{"bearer": []}]


def test_login_is_listed_only_when_served(doc: dict[str, Any], bare_doc: dict[str, Any]) -> None:
    assert "/login" in doc["paths"]
    assert "/login" not in bare_doc["paths"]
    replies = {"/ask_ai", "/follow_reply", "/stop_reply"}  # served only with a model
    assert replies <= set(doc["paths"]) and not replies & set(bare_doc["paths"])
    assert set(bare_doc["paths"]) == set(doc["paths"]) - {"/login"} - replies
    assert "LoginRequest" not in bare_doc["components"]["schemas"]
    assert "AskAiRequest" not in bare_doc["components"]["schemas"]


def test_a_reply_is_described_as_an_event_stream(doc: dict[str, Any]) -> None:
    ask = doc["paths"]["/ask_ai"]["post"]["responses"]["200"]["content"]
    assert set(ask) == {"text/event-stream", "application/json"}  # stream: false: the start
    assert "delta" in ask["text/event-stream"]["schema"]["description"]
    follow = doc["paths"]["/follow_reply"]["post"]["responses"]["200"]["content"]
    assert set(follow) == {"text/event-stream"}
    stop = doc["paths"]["/stop_reply"]["post"]["responses"]["200"]["content"]
    assert set(stop) == {"application/json"}


def test_security_is_declared_only_with_auth_on(
    doc: dict[str, Any], secured_doc: dict[str, Any]
) -> None:
    assert "securitySchemes" not in doc["components"]
    assert "security" not in doc
    for item in doc["paths"].values():
        for operation in item.values():
            assert "security" not in operation, operation["operationId"]
    assert secured_doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in secured_doc["paths"].items():
        security = item.get("post", item.get("get"))["security"]
        public = path in ("/login", "/healthz")
        assert security == ([{}] if public else [{"bearer": []}]), path


# -- the limits of API.md §2 ------------------------------------------------------------------


def _non_null(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Return the rule of a field: the schema, or the non-null option of an optional one."""
    schema = resolve(doc, schema)
    if "anyOf" in schema:
        (rule,) = [o for o in schema["anyOf"] if o.get("type") != "null"]
        return resolve(doc, rule)
    return schema


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
