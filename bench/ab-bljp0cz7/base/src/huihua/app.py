"""The web application: routes, the envelope on every reply, one log line per request.

``create_app(settings)`` returns the ASGI app. Every POST endpoint runs through
:class:`PostEndpoint`, which reads the body within its limit, parses it (validation.py), calls
the handler and turns any :class:`~huihua.errors.HuihuaError` into the envelope with its
status; anything else is logged with the request_id and answered as ok 9, never a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from huihua import __version__, logs, ratelimit, wechat
from huihua.api import ENDPOINTS, Context, Endpoint
from huihua.auth import Access
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
access_log = logs.AccessLog()

HEALTH_TIMEOUT_S = 5.0
SQLITE_GIL_SWITCH_S = 0.0002
_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
_encode = msgspec.json.Encoder().encode


def _reply(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=_HEADERS)


def _failure(request_id: str, error: HuihuaError) -> Response:
    response = _reply(error_body(request_id, error), error.status)
    if error.headers:
        response.headers.update(error.headers)
    return response


# The same headers as raw ASGI pairs, for the POST endpoints that skip Starlette.
_JSON_HEADERS = [
    (b"content-type", b"application/json"),
    *((name.encode(), value.encode()) for name, value in _HEADERS.items()),
]


class ClientGone(Exception):
    """The client closed the connection before its request body was complete."""


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise _too_large(limit)
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body = message.get("body", b"")
    if not message.get("more_body", False):  # the whole body in one message: the usual case
        if len(body) > limit:
            raise _too_large(limit)
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"body: must be at most {limit} bytes")


class PostEndpoint:
    """One POST endpoint as a bare ASGI app: body → parse → handler → envelope.

    The POST endpoints are the hot path, so they skip Starlette's request, response,
    routing and middleware objects (about an eighth of a request's time here); everything
    else (GET routes, unknown paths, wrong methods, lifespan) goes through Starlette.
    """

    def __init__(self, spec: Endpoint, context: dict[str, Context]) -> None:
        self.spec = spec
        self.path = spec.path
        self.request_type = spec.request if spec.strict else None
        self.handler = spec.handler
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        ctx = self.context["ctx"]
        request_id = None
        status = 200
        extra: dict[str, str] | None = None
        who = "-"
        try:
            body = await _read_body(scope, receive, ctx.settings.max_body_bytes)
            parsed = parse_body(body, self.request_type)
            request_id = parsed.request_id
            # credential (ok 3), then rate limits (ok 7): before any field error (API.md §1)
            principal, parsed = await ctx.access.admit(scope, parsed, self.spec)
            who = principal.log_name
            reply = await self.handler(ctx, parsed, principal)
            if not isinstance(reply, bytes):
                reply = _encode(reply)
            ok = 0
        except HuihuaError as error:
            request_id = request_id or new_id()
            reply, ok, status = error_body(request_id, error), error.ok, error.status
            extra = error.headers
        except ClientGone:  # nothing to answer; logged as nginx does, 499
            access_log.info(f"request_id=- route={self.path} ok=- status=499 who={who}")
            return
        except Exception as unexpected:
            request_id = request_id or new_id()
            log.error(
                "unexpected error request_id=%s route=%s: %s",
                request_id,
                self.path,
                logs.describe(unexpected),
            )
            error = InternalError(f"internal error; logged with request_id {request_id}")
            reply, ok, status = error_body(request_id, error), error.ok, error.status
        headers = [*_JSON_HEADERS, (b"content-length", str(len(reply)).encode())]
        if extra:
            headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": reply})
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log.info(
            f"request_id={request_id} route={self.path} ok={ok} status={status} "
            f"ms={elapsed_ms:.1f} who={who}"
        )


class HuihuaApp:
    """The ASGI app: POSTs to a known endpoint go straight to it, the rest to Starlette."""

    def __init__(
        self, starlette: Starlette, posts: dict[str, PostEndpoint], cors_origins: list[str]
    ) -> None:
        self.starlette = starlette
        self.state = starlette.state
        self._posts = posts
        # CORS headers only when origins are configured (a mini-program needs none).
        self._cors = (
            CORSMiddleware(
                self._route,
                allow_origins=cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type"],
                max_age=600,
            )
            if cors_origins
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._cors is not None:
            await self._cors(scope, receive, send)
        else:
            await self._route(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._posts.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.starlette(scope, receive, send)


def create_app(settings: Settings) -> HuihuaApp:
    """Return the huihua ASGI app for these settings; the store opens at start-up."""
    context: dict[str, Context] = {}
    openapi_body = _encode(build_openapi())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = open_store(settings)
        for warning in store.warnings:
            log.warning("durability: %s", warning)
        limiter = ratelimit.open_limiter(settings)
        if isinstance(limiter, ratelimit.RedisLimiter) and not await limiter.ping():
            log.warning("rate limits: Redis does not answer at start; not limiting until it does")
        if settings.auth and settings.workers > 1 and not settings.redis_url:
            log.warning("rate limits: per worker process; set HUIHUA_REDIS_URL to share them")
        client = wechat.WeChat(settings) if wechat.enabled(settings) else None
        access = Access(settings, store, limiter)
        context["ctx"] = Context(settings=settings, store=store, access=access, wechat=client)
        app.state.store = store
        # What start-up made lives as long as the process: keep it out of the collector's
        # full passes, which otherwise walk it again and again under load.
        gc.collect()
        gc.freeze()
        # Group commit: when a COMMIT's fsync returns, its thread needs the GIL back to hand
        # the group over, and by default waits up to 5 ms for the busy event loop to let go
        # of it. Measured here, add_chat median of 5 alternated runs: 15,241 rps at 5 ms,
        # 16,082 at 0.2 ms; reads unchanged. PostgreSQL's thread pool lost 15% with it, so
        # only SQLite.
        switch_interval = sys.getswitchinterval() if store.kind == "sqlite" else None
        if switch_interval is not None:
            sys.setswitchinterval(SQLITE_GIL_SWITCH_S)
        try:
            yield
        finally:
            if switch_interval is not None:
                sys.setswitchinterval(switch_interval)
            context.pop("ctx", None)
            if client is not None:
                await client.aclose()
            await limiter.aclose()
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
        try:  # with auth on, the API's description is for the back end only
            await context["ctx"].access.require_service(request.scope)
        except HuihuaError as error:
            return _failure(new_id(), error)
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
        log.error("unexpected error request_id=%s: %s", request_id, logs.describe(exc))
        error = InternalError(f"internal error; logged with request_id {request_id}")
        return _failure(request_id, error)

    # /login exists only with WeChat credentials and a token secret to sign with.
    served = [e for e in ENDPOINTS if e.path != "/login" or wechat.enabled(settings)]
    posts = {e.path: PostEndpoint(e, context) for e in served}
    routes = [Route(path, endpoint, methods=["POST"]) for path, endpoint in posts.items()]
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
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    return HuihuaApp(app, posts, origins)
