"""The OpenAPI 3.1 description of every endpoint, built from the msgspec structs."""

from __future__ import annotations

from typing import Any

import msgspec

from huihua import __version__
from huihua.api import ENDPOINTS
from huihua.errors import Envelope
from huihua.schemas import HealthReply

_REF = "#/components/schemas/{name}"
_ERRORS = {
    "400": "ok 1: invalid request",
    "401": "ok 3: credential missing, malformed, forged or expired (auth on)",
    "403": "ok 4: credential valid, but not for this user or this operation",
    "404": "ok 2: not found (user, session or path)",
    "405": "ok 10: method not allowed",
    "409": "ok 5: request_id already used for a different request",
    "413": "ok 6: body or field too large",
    "429": "ok 7: rate limited; retry after the Retry-After header's seconds",
    "500": "ok 9: internal error, logged with the request_id",
    "503": "ok 8: storage unavailable, nothing written, retry is safe",
}


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI document as a JSON-ready dict."""
    types = [e.request for e in ENDPOINTS] + [e.reply for e in ENDPOINTS] + [HealthReply]
    refs, components = msgspec.json.schema_components(types, ref_template=_REF)
    refs_of = dict(zip(types, refs, strict=True))
    components["AddUserRequest"]["additionalProperties"] = True
    # meta is sent back as the client gave it (raw JSON): an object, or null when absent
    components["ChatOut"]["properties"]["meta"] = {
        "anyOf": [{"type": "object"}, {"type": "null"}],
        "default": None,
    }
    envelope = _json(refs_of.get(Envelope) or {"$ref": _REF.format(name="Envelope")})
    paths: dict[str, Any] = {}
    for e in ENDPOINTS:
        responses = {"200": {"description": "ok 0: success", **_json(refs_of[e.reply])}}
        responses |= {code: {"description": text, **envelope} for code, text in _ERRORS.items()}
        paths[e.path] = {
            "post": {
                "operationId": e.path.strip("/"),
                "summary": e.summary,
                "requestBody": {"required": True, **_json(refs_of[e.request])},
                "responses": responses,
                # With auth on: the service key or a user token; /login needs none.
                "security": [{}] if e.public else [{"bearer": []}],
            }
        }
    health = _json(refs_of[HealthReply])
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Process up and storage reachable, with the version.",
            "responses": {
                "200": {"description": "ok 0: the store answers", **health},
                "503": {"description": "ok 8: the store does not answer", **health},
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {"200": {"description": "OpenAPI 3.1 document"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "huihua",
            "version": __version__,
            "description": "Chat history for AI chat apps. Every reply is the envelope "
            "{request_id, ok, failed}; see API.md for the ok codes.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The service key (the app's back end), or a user token "
                    "from /login (the mini-program). Needed only when the server has a "
                    "service key set (auth on).",
                }
            },
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}
