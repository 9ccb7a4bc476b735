"""The OpenAPI 3.1 description of the endpoints served, built from the msgspec structs.

msgspec gives each struct's fields and types; the rules it cannot say (lengths, patterns,
ranges, defaults: docs/api.md §2 and §5.1) are put on them by openapi_rules.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from huihua import __version__
from huihua.http.openapi_rules import REF, constrain, describe_chat_out, json_value
from huihua.wire.replies import Envelope, HealthReply
from huihua.wire.rules import Limits

if TYPE_CHECKING:
    from huihua.http.endpoints import Endpoint

WRITE_PATHS = frozenset(
    {
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
    }
)
# The paths that answer ok 11 (HTTP 409 too): the target's kind or state rules it out.
NOT_APPLICABLE_PATHS = frozenset(
    {"/update_chat", "/rate_chat", "/ask_ai", "/follow_reply", "/stop_reply"}
)
# The paths whose success is a reply's event stream (docs/api.md §8.2).
EVENTS = (
    "The reply's events, as Server-Sent Events: `id` numbers them from 1; `start` (the "
    "envelope, session_id, seqs, created_at), `delta` ({msg?, reasoning?, replace?}: text to "
    "append, or with replace the whole text so far), and `done` ({seq, status, failed, meta, "
    "msg?}, sent once the finished reply is stored); a `: ping` comment after 15 s of silence."
)


_DESCRIPTIONS = {
    "400": "ok 1: invalid request",
    "401": "ok 3: credential missing, malformed, forged or expired",
    "403": "ok 4: a browser's foreign Origin or Host; with auth on, a credential that is "
    "not for this user or this operation",
    "404": "ok 2: the user or the session does not exist",
    "409": "ok 5: this request_id was already used for a different request",
    "409+11": "ok 5: this request_id was already used for a different request; ok 11: the "
    'message is not an "ai" reply, a finished reply would be set back to "streaming", a '
    "reply is being generated in the session (or stopped when finished)",
    "413": "ok 6: the body (over 1 MiB) or a field over its limit",
    "422": "ok 12: WeChat's content check judged the question risky; nothing was written",
    "429": "ok 7: rate limited; retry after the Retry-After header's seconds",
    "500": "ok 9: internal error, logged with the request_id",
    "503": "ok 8: storage unavailable, not acknowledged; a retry with the same request_id is safe",
}


def _describe(code: str, path: str) -> str:
    if code == "409" and path in NOT_APPLICABLE_PATHS:
        return _DESCRIPTIONS["409+11"]
    return _DESCRIPTIONS[code]


def statuses(path: str, *, auth: bool) -> list[str]:
    """Return the error statuses a POST to ``path`` can answer with."""
    codes = ["400", "403", "413", "500", "503"]
    if path != "/add_user":  # add_user creates; /login creates or finds
        codes.append("404")
    if path in WRITE_PATHS or path in NOT_APPLICABLE_PATHS:
        codes.append("409")
    if auth or path == "/login":  # /login: WeChat refuses the code (ok 3) or throttles (7)
        codes += ["401", "429"]
    elif path == "/ask_ai":  # the replies' limits and the daily quota
        codes.append("429")
    if path == "/ask_ai":  # WeChat's content check, when configured
        codes.append("422")
    if path in NEVER_NOT_FOUND:
        codes.remove("404")
    return sorted(codes)


# The paths that look no user or session up: /login, the operator's (docs/api.md §9).
NEVER_NOT_FOUND = frozenset({"/login", "/list_users", "/list_feedback", "/usage_stats"})


def build_openapi(
    endpoints: Sequence[Endpoint], *, auth: bool, limits: Limits | None = None
) -> dict[str, Any]:
    """Return the OpenAPI document of the endpoints served as a JSON-ready dict.

    ``auth``: whether the server has a service key (then ``security`` is declared, and the
    statuses only auth answers). ``limits``: the server's field limits (the defaults).
    """
    limits = limits or Limits()
    types = [e.request for e in endpoints] + [e.reply for e in endpoints] + [HealthReply]
    refs, components = msgspec.json.schema_components(types, ref_template=REF)
    refs_of = dict(zip(types, refs, strict=True))
    components["JsonValue"] = json_value()
    if "ChatOut" in components:
        describe_chat_out(components["ChatOut"])
    for e in endpoints:
        constrain(components[e.request.__name__], limits)
    for name in ("ChatIn", "Part", "ToolCall"):
        if name in components:
            constrain(components[name], limits)
    envelope = _json(refs_of.get(Envelope) or {"$ref": REF.format(name="Envelope")})
    names = {e.path for e in endpoints}
    paths: dict[str, Any] = {}
    for e in endpoints:
        success = {"description": "ok 0: success", **_json(refs_of[e.reply])}
        if e.events:
            events = {"schema": {"type": "string", "description": EVENTS}}
            success["description"] = "ok 0: " + EVENTS
            success["content"] = {"text/event-stream": events}
            if e.path == "/ask_ai":  # stream: false answers the start's data alone
                success["content"] |= _json(refs_of[e.reply])["content"]
        links = _links(e.path, names)
        if links:
            success["links"] = links
        responses = {"200": success}
        responses |= {
            code: {"description": _describe(code, e.path), **envelope}
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
            "{request_id, ok, failed} (a reply's event stream begins with it). A wrong method on "
            "a path answers 405 (ok 10), an unknown path 404 (ok 2). The reference of every "
            "route, with the table of ok codes, the order of errors, idempotency and the "
            "replies' event stream, is docs/api.md in huihua's repository.",
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
