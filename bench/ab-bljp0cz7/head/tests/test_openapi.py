"""GET /openapi.json describes every endpoint of API.md §3 with the fields it gives.

One store is enough: the document does not depend on it. The last test checks the document
against real replies, so that it cannot drift from what the server sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

import huihua

from .helpers import ENDPOINTS, POST_PATHS

if TYPE_CHECKING:
    from conftest import Api

WRITE_PATHS = (
    "/add_user",
    "/add_chat",
    "/delete_specific_session",
    "/delete_sessions",
    "/delete_user",
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
        "request_id": "string",
    },
    "/delete_specific_session": {
        "user_id": "string",
        "session_id": "string",
        "request_id": "string",
    },
    "/delete_sessions": {"user_id": "string", "request_id": "string"},
    "/delete_user": {"user_id": "string", "request_id": "string"},
    "/login": {"code": "string", "request_id": "string"},
}
REQUIRED = {
    "/add_user": {"user_id"},
    "/query_user_info": {"user_id"},
    "/add_chat": {"user_id", "role", "msg"},
    "/query_session_names": {"user_id"},
    "/query_session_info": {"user_id", "session_id"},
    "/delete_specific_session": {"user_id", "session_id"},
    "/delete_sessions": {"user_id"},
    "/delete_user": {"user_id"},
    "/login": {"code"},
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
    "/login": {
        "user_id": "string",
        "token": "string",
        "expires_at": "string",
        "created": "boolean",
    },
}
ITEM_FIELDS = {
    ("/query_session_names", "sessions"): {
        "session_id": "string",
        "session_title": "string",
        "created_at": "string",
        "updated_at": "string",
        "chat_count": "integer",
    },
    ("/query_session_info", "chats"): {
        "role": "string",
        "msg": "string",
        "seq": "integer",
        "created_at": "string",
        "meta": "object",
    },
}
# The failures any POST endpoint can answer with (API.md §1), and a write's conflict.
ERROR_STATUSES = ("400", "404", "405", "413", "500", "503")


@pytest.fixture(scope="module")
def sqlite_api(serve: Callable[..., Api]) -> Api:
    return serve("sqlite")


@pytest.fixture(scope="module")
def doc(sqlite_api: Api) -> dict[str, Any]:
    response = sqlite_api.http.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0].strip() == "application/json"
    document = response.json()
    assert isinstance(document, dict)
    return document


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


def test_role_is_user_or_ai(doc: dict[str, Any]) -> None:
    schema = json_schema(doc, doc["paths"]["/add_chat"]["post"]["requestBody"])
    role = resolve(doc, schema["properties"]["role"])
    assert set(role["enum"]) == {"user", "ai"}


@pytest.mark.parametrize("path", POST_PATHS)
def test_success_reply_lists_the_fields(doc: dict[str, Any], path: str) -> None:
    responses = doc["paths"][path]["post"]["responses"]
    assert "200" in responses, sorted(responses)
    schema = json_schema(doc, responses["200"])
    assert_fields(doc, schema, {**ENVELOPE, **REPLY_FIELDS[path]})
    for (item_path, name), fields in ITEM_FIELDS.items():
        if item_path == path:
            items = resolve(doc, schema["properties"][name]["items"])
            assert_fields(doc, items, fields)
    if path == "/query_user_info":
        # Further profile fields come back at top level (API.md §3).
        assert schema.get("additionalProperties", True) is not False


@pytest.mark.parametrize("path", POST_PATHS)
def test_error_replies_are_documented_as_the_envelope(doc: dict[str, Any], path: str) -> None:
    responses = doc["paths"][path]["post"]["responses"]
    statuses = ERROR_STATUSES + (("409",) if path in WRITE_PATHS else ())
    for status in statuses:
        assert status in responses, (status, sorted(responses))
        assert responses[status].get("description"), responses[status]
        assert_fields(doc, json_schema(doc, responses[status]), ENVELOPE)


def test_healthz_reply_lists_version_and_store(doc: dict[str, Any]) -> None:
    responses = doc["paths"]["/healthz"]["get"]["responses"]
    fields = {**ENVELOPE, "version": "string", "store": "string"}
    assert_fields(doc, json_schema(doc, responses["200"]), fields)
    assert_fields(doc, json_schema(doc, responses["503"]), ENVELOPE)


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
    }
    for path, reply in replies.items():
        assert reply["ok"] == 0, (path, reply)
        documented = _documented(doc, path, "200")
        assert set(reply) <= documented, (path, set(reply) - documented)
        assert set(REPLY_FIELDS[path]) <= set(reply), (path, reply)
    for (path, name), fields in ITEM_FIELDS.items():
        for item in replies[path][name]:
            assert set(item) == set(fields), (path, item)
    missing = api.call("/query_user_info", user_id="no-such-user")
    assert missing["ok"] == 2
    assert set(missing) <= _documented(doc, "/query_user_info", "404")


@pytest.mark.parametrize("path", POST_PATHS)
def test_the_example_is_a_valid_request_and_documented(doc: dict[str, Any], path: str) -> None:
    endpoint = ENDPOINTS[path]
    msgspec.convert(dict(endpoint.example), endpoint.request)  # raises if it is not one
    media = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    assert media["example"] == dict(endpoint.example)
