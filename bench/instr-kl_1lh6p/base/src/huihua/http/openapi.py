"""The OpenAPI 3.1 description of the endpoints served, built from the msgspec structs.

msgspec gives each struct's fields and types; the rules it cannot say (lengths, patterns,
ranges, defaults: API.md §2) are added here from the constants the checks use (wire/rules.py,
wire/checks.py), so that the document and the server cannot drift apart. They are not msgspec
``Meta`` constraints on the structs: those would change which error answers first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from huihua import __version__
from huihua.wire.checks import LOGIN_CODE_MAX
from huihua.wire.replies import Envelope, HealthReply
from huihua.wire.rules import (
    CHATS_LIMIT_DEFAULT,
    CHATS_LIMIT_MAX,
    CONTROL_CHARS,
    EMAIL_MAX,
    PHONE_MAX,
    REQUEST_ID_MAX,
    RESERVED_PROFILE_FIELDS,
    SEQ_MAX,
    SESSION_ID_CHARS,
    SESSION_ID_MAX,
    SESSION_TITLE_MAX,
    SESSIONS_LIMIT_DEFAULT,
    SESSIONS_LIMIT_MAX,
    USER_ID_MAX,
    USER_NAME_MAX,
    Limits,
)

if TYPE_CHECKING:
    from huihua.http.endpoints import Endpoint

_REF = "#/components/schemas/{name}"
WRITE_PATHS = frozenset(
    {"/add_user", "/add_chat", "/delete_specific_session", "/delete_sessions", "/delete_user"}
)

# Patterns (ECMA-262 and Python alike). A character class of CONTROL_CHARS, negated.
assert CONTROL_CHARS.pattern.startswith("[") and CONTROL_CHARS.pattern.endswith("]")
NO_CONTROL = f"^[^{CONTROL_CHARS.pattern[1:-1]}]*$"
NO_NUL = "^[^\\x00]*$"
assert SESSION_ID_CHARS.pattern.endswith("]*")
_SESSION_CLASS = SESSION_ID_CHARS.pattern[:-1]
SESSION_ID_PATTERN = f"^{_SESSION_CLASS}{{1,{SESSION_ID_MAX}}}$"
# API.md §2: printable ASCII without spaces (U+0021-U+007E).
REQUEST_ID_PATTERN = f"^[!-~]{{1,{REQUEST_ID_MAX}}}$"

_DESCRIPTIONS = {
    "400": "ok 1: invalid request",
    "401": "ok 3: credential missing, malformed, forged or expired",
    "403": "ok 4: a browser's foreign Origin or Host; with auth on, a credential that is "
    "not for this user or this operation",
    "404": "ok 2: the user or the session does not exist",
    "409": "ok 5: this request_id was already used for a different request",
    "413": "ok 6: the body (over 1 MiB) or a field over its limit",
    "429": "ok 7: rate limited; retry after the Retry-After header's seconds",
    "500": "ok 9: internal error, logged with the request_id",
    "503": "ok 8: storage unavailable, not acknowledged; a retry with the same request_id is safe",
}


def statuses(path: str, *, auth: bool) -> list[str]:
    """Return the error statuses a POST to ``path`` can answer with."""
    codes = ["400", "403", "413", "500", "503"]
    if path != "/add_user":  # add_user creates; /login creates or finds
        codes.append("404")
    if path in WRITE_PATHS:
        codes.append("409")
    if auth or path == "/login":  # /login: WeChat refuses the code (ok 3) or throttles (7)
        codes += ["401", "429"]
    if path == "/login":
        codes.remove("404")
    return sorted(codes)


def build_openapi(
    endpoints: Sequence[Endpoint], *, auth: bool, limits: Limits | None = None
) -> dict[str, Any]:
    """Return the OpenAPI document of the endpoints served as a JSON-ready dict.

    ``auth``: whether the server has a service key (then ``security`` is declared, and the
    statuses only auth answers). ``limits``: the server's field limits (the defaults).
    """
    limits = limits or Limits()
    types = [e.request for e in endpoints] + [e.reply for e in endpoints] + [HealthReply]
    refs, components = msgspec.json.schema_components(types, ref_template=_REF)
    refs_of = dict(zip(types, refs, strict=True))
    components["JsonValue"] = _json_value()
    # meta is sent back as the client gave it (raw JSON): an object, or null when absent
    if "ChatOut" in components:
        components["ChatOut"]["properties"]["meta"] = {
            "anyOf": [{"type": "object"}, {"type": "null"}],
            "default": None,
        }
    for e in endpoints:
        _constrain(components[e.request.__name__], limits)
    envelope = _json(refs_of.get(Envelope) or {"$ref": _REF.format(name="Envelope")})
    names = {e.path for e in endpoints}
    paths: dict[str, Any] = {}
    for e in endpoints:
        success = {"description": "ok 0: success", **_json(refs_of[e.reply])}
        links = _links(e.path, names)
        if links:
            success["links"] = links
        responses = {"200": success}
        responses |= {
            code: {"description": _DESCRIPTIONS[code], **envelope}
            for code in statuses(e.path, auth=auth)
        }
        operation: dict[str, Any] = {
            "operationId": e.path.strip("/"),
            "summary": e.summary,
            "requestBody": {"required": True, **_json(refs_of[e.request], e.example)},
            "responses": responses,
        }
        if auth:  # the service key or a user token; /login needs none
            operation["security"] = [{}] if e.public else [{"bearer": []}]
        paths[e.path] = {"post": operation}
    health = _json(refs_of[HealthReply])
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Process up and storage reachable, with the version. No credential.",
            "responses": {
                "200": {"description": "ok 0: the store answers and takes writes", **health},
                "403": {"description": _DESCRIPTIONS["403"], **envelope},
                "503": {"description": "ok 8: the store does not answer", **health},
            },
            **({"security": [{}]} if auth else {}),
        }
    }
    openapi: dict[str, Any] = {
        "operationId": "openapi",
        "summary": "This document.",
        "responses": {
            "200": {
                "description": "OpenAPI 3.1 document",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "403": {"description": _DESCRIPTIONS["403"], **envelope},
        },
    }
    if auth:
        openapi["summary"] += " Needs the service key."
        openapi["responses"]["401"] = {"description": _DESCRIPTIONS["401"], **envelope}
        openapi["responses"]["403"]["description"] += " (a user token)"
        openapi["security"] = [{"bearer": []}]
    paths["/openapi.json"] = {"get": openapi}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "huihua",
            "version": __version__,
            "description": "Chat history for AI chat apps. Every reply is the envelope "
            "{request_id, ok, failed}; see API.md for the ok codes. A wrong method on a "
            "path answers 405 (ok 10), an unknown path 404 (ok 2).",
        },
        "paths": paths,
        "components": {"schemas": components},
    }
    if auth:
        document["components"]["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The service key (the app's back end), or a user token from "
                "/login (the mini-program).",
            }
        }
    return document


def _json(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = dict(example)
    return {"content": {"application/json": media}}


def _json_value() -> dict[str, Any]:
    """Any JSON value whose strings and keys hold no U+0000 (API.md §2)."""
    ref = {"$ref": _REF.format(name="JsonValue")}
    return {
        "description": "Any JSON value; no string or key in it may contain U+0000.",
        "anyOf": [
            {"type": ["null", "boolean", "number"]},
            {"type": "string", "pattern": NO_NUL},
            {"type": "array", "items": ref},
            {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": ref},
        ],
    }


def _text(least: int, most: int, pattern: str = NO_NUL, **more: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": least, "maxLength": most, "pattern": pattern, **more}


def _field_rules(limits: Limits) -> dict[str, dict[str, Any]]:
    """The rules of each field, by name: the same in every request that has it."""
    no_nul = "no U+0000"
    return {
        "user_id": _text(
            1,
            USER_ID_MAX,
            NO_CONTROL,
            description="The WeChat openid or any string; no control characters.",
        ),
        "session_id": _text(1, SESSION_ID_MAX, SESSION_ID_PATTERN),
        "request_id": _text(
            1,
            REQUEST_ID_MAX,
            REQUEST_ID_PATTERN,
            description="Printable ASCII without spaces; unique per write call: the key that "
            "makes a retry safe (API.md §4).",
        ),
        "msg": _text(1, limits.max_msg_chars, description=no_nul),
        "user_name": _text(0, USER_NAME_MAX, description=no_nul),
        "phone": _text(0, PHONE_MAX, description=no_nul),
        "email": _text(0, EMAIL_MAX, description=no_nul),
        "session_title": _text(
            0, SESSION_TITLE_MAX, description="Used only when the call creates the session."
        ),
        "meta": {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"$ref": _REF.format(name="JsonValue")},
            "description": f"Kept with the message and returned as it came: at most "
            f"{limits.max_meta_bytes} bytes as compact JSON (ok 6 beyond); no U+0000 in any "
            "key or string.",
        },
        "before_seq": {
            "type": "integer",
            "minimum": 1,
            "maximum": SEQ_MAX,
            "description": "Only messages with a smaller seq: the smallest seq a client has.",
        },
        "cursor": {
            "type": "string",
            "description": 'A next_cursor from a previous reply ("": the first page).',
        },
        "code": _text(1, LOGIN_CODE_MAX, NO_CONTROL, description="The code from wx.login()."),
    }


_LIMITS = {
    "QuerySessionNamesRequest": (SESSIONS_LIMIT_DEFAULT, SESSIONS_LIMIT_MAX),
    "QuerySessionInfoRequest": (CHATS_LIMIT_DEFAULT, CHATS_LIMIT_MAX),
}


def _constrain(schema: dict[str, Any], limits: Limits) -> None:
    """Put API.md §2's rules on a request's msgspec schema, in place."""
    rules = _field_rules(limits)
    if schema["title"] in _LIMITS:
        default, most = _LIMITS[schema["title"]]
        rules["limit"] = {"type": "integer", "minimum": 1, "maximum": most}
        schema["properties"]["limit"] = {**_nullable(rules["limit"]), "default": default}
    if schema["title"] == "AddChatRequest":
        rules["session_id"] = _text(
            0,
            SESSION_ID_MAX,
            f"^{_SESSION_CLASS}{{0,{SESSION_ID_MAX}}}$",
            description='Absent or "": a new session with a server-made id; new for this '
            "user: created with this id; existing: the message is appended.",
        )
    for name, prop in schema["properties"].items():
        if name == "limit" or name not in rules:
            continue
        rule = rules[name]
        optional = name not in schema.get("required", ())
        schema["properties"][name] = (
            {**_nullable(rule), "default": prop.get("default")} if optional else rule
        )
    if schema["title"] == "AddUserRequest":
        declared = set(schema["properties"])
        schema["additionalProperties"] = {"$ref": _REF.format(name="JsonValue")}
        schema["propertyNames"] = {
            "pattern": NO_NUL,
            "not": {"enum": sorted(RESERVED_PROFILE_FIELDS - declared)},
        }
        schema["description"] = (
            "Further profile fields (e.g. avatar_url, gender) are kept as they came and "
            f"returned by query_user_info: at most {limits.max_profile_bytes} bytes as compact "
            "JSON in all; their names may not be "
            f"{', '.join(sorted(RESERVED_PROFILE_FIELDS))}."
        )


def _nullable(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule, or null (an optional field given as null counts as absent)."""
    described = {k: v for k, v in rule.items() if k == "description"}
    inner = {k: v for k, v in rule.items() if k != "description"}
    return {"anyOf": [inner, {"type": "null"}], **described}


def _links(path: str, served: set[str]) -> dict[str, Any]:
    """Links from the success reply of ``path`` to the operations it leads to."""
    user = "$request.body#/user_id"
    candidates: dict[str, tuple[str, dict[str, str]]] = {}
    if path == "/add_user":
        candidates["QueryUserInfo"] = (
            "/query_user_info",
            {"user_id": "$response.body#/user_id"},
        )
    if path == "/add_chat":
        session = {"user_id": user, "session_id": "$response.body#/session_id"}
        candidates["QuerySessionInfo"] = ("/query_session_info", session)
        candidates["DeleteSpecificSession"] = ("/delete_specific_session", session)
    if path == "/query_session_names":
        candidates["NextPage"] = (
            "/query_session_names",
            {"user_id": user, "cursor": "$response.body#/next_cursor"},
        )
    return {
        name: {"operationId": target.strip("/"), "requestBody": body}
        for name, (target, body) in candidates.items()
        if target in served
    }
