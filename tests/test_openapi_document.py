"""GET /openapi.json describes every endpoint served, with the fields and statuses of API.md."""

from __future__ import annotations

import re
from typing import Any

import pytest

import huihua

from .helpers import POST_PATHS
from .openapi_cases import (
    AUTH_STATUSES,
    ERROR_STATUSES,
    _non_null,
    assert_fields,
    json_schema,
    resolve,
    walk_refs,
)
from .openapi_cases import bare_doc as bare_doc  # a fixture: pytest finds it by name
from .openapi_cases import doc as doc  # a fixture: pytest finds it by name
from .openapi_cases import secured_doc as secured_doc  # a fixture: pytest finds it by name
from .openapi_cases import sqlite_api as sqlite_api  # a fixture: pytest finds it by name
from .openapi_fields import (
    ENVELOPE,
    ITEM_FIELDS,
    REPLY_FIELDS,
    REQUEST_FIELDS,
    REQUIRED,
    WRITE_PATHS,
)

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
