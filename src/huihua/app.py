"""The web application: routes, the envelope on every reply, one log line per request.

``create_app(settings)`` returns a Starlette app. Every POST endpoint runs through
:func:`_endpoint`, which reads the body within its limit, parses it (validation.py), calls
the handler and turns any :class:`~huihua.errors.HuihuaError` into the envelope with its
status; anything else is logged with the request_id and answered as ok 9, never a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from huihua import __version__, logs
from huihua.api import ENDPOINTS, Context, Endpoint
from huihua.config import Settings
from huihua.errors import (
    HuihuaError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    StorageUnavailable,
    TooLarge,
    error_body,
)
from huihua.ids import new_id
from huihua.openapi import build_openapi
from huihua.schemas import HealthReply
from huihua.store import open_store
from huihua.validation import parse_body

log = logging.getLogger("huihua")
access_log = logging.getLogger("huihua.access")

HEALTH_TIMEOUT_S = 5.0
_HEADERS = {"cache-control": "no-store"}
_encode = msgspec.json.Encoder().encode


def _reply(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=_HEADERS)


def _failure(request_id: str, error: HuihuaError) -> Response:
    return _reply(error_body(request_id, error), error.status)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = TooLarge(f"body: must be at most {limit} bytes")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _endpoint(spec: Endpoint, context: dict[str, Context]) -> Any:
    path = spec.path
    request_type = spec.request if spec.strict else None
    handler = spec.handler

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        ctx = context["ctx"]
        request_id = None
        try:
            body = await _read_body(request, ctx.settings.max_body_bytes)
            parsed = parse_body(body, request_type)
            request_id = parsed.request_id
            reply = await handler(ctx, parsed)
            if not isinstance(reply, bytes):
                reply = _encode(reply)
            response = _reply(reply)
            ok = 0
        except HuihuaError as error:
            request_id = request_id or new_id()
            response, ok = _failure(request_id, error), error.ok
        except Exception:
            request_id = request_id or new_id()
            log.exception("unexpected error request_id=%s route=%s", request_id, path)
            error = InternalError(f"internal error; logged with request_id {request_id}")
            response, ok = _failure(request_id, error), error.ok
        access_log.info(
            "request_id=%s route=%s ok=%d status=%d ms=%.1f",
            request_id,
            path,
            ok,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    return endpoint


def create_app(settings: Settings) -> Starlette:
    """Return the huihua ASGI app for these settings; the store opens at start-up."""
    context: dict[str, Context] = {}
    openapi_body = _encode(build_openapi())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = open_store(settings)
        for warning in store.warnings:
            log.warning("durability: %s", warning)
        context["ctx"] = Context(settings=settings, store=store)
        app.state.store = store
        try:
            yield
        finally:
            context.pop("ctx", None)
            store.close()
            logs.flush()  # uvicorn re-raises SIGTERM after shutdown: no atexit flush follows

    async def healthz(request: Request) -> Response:
        store = context["ctx"].store
        reply = HealthReply(
            request_id=request.headers.get("x-request-id") or new_id(),
            version=__version__,
            store=store.kind,
            durable=not store.warnings,
            warnings=store.warnings,
        )
        try:
            await asyncio.wait_for(store.ping(), HEALTH_TIMEOUT_S)
        except (StorageUnavailable, TimeoutError):
            reply.ok, reply.failed = StorageUnavailable.ok, "storage: does not answer"
            return _reply(_encode(reply), StorageUnavailable.status)
        return _reply(_encode(reply))

    async def openapi(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json", headers=_HEADERS)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _failure(new_id(), NotFound(f"path: no such endpoint {request.url.path}"))

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        allow = exc.headers.get("Allow", "") if isinstance(exc, HTTPException) else ""
        error = MethodNotAllowed(f"method: {request.method} is not allowed here; use {allow}")
        response = _failure(new_id(), error)
        if allow:
            response.headers["allow"] = allow
        return response

    async def internal(request: Request, exc: Exception) -> Response:
        request_id = new_id()
        log.error("unexpected error request_id=%s", request_id, exc_info=exc)
        error = InternalError(f"internal error; logged with request_id {request_id}")
        return _failure(request_id, error)

    routes = [Route(e.path, _endpoint(e, context), methods=["POST"]) for e in ENDPOINTS]
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: method_not_allowed, Exception: internal},
    )
    app.router.redirect_slashes = False  # "/add_chat/" is an unknown path, not a redirect
    return app
