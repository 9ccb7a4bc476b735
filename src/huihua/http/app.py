"""The web application: the endpoint table served, the envelope on every reply.

``create_app(settings)`` returns the ASGI app. A POST to a registered endpoint goes
straight to its :class:`~huihua.http.pipeline.PostEndpoint`; everything else (the GET
routes, unknown paths, wrong methods, the lifespan) goes through Starlette. Every path
ends in one call of the observers (observe.py): the access log, and whatever else the
caller adds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from huihua import __version__, logs, service
from huihua.access import ratelimit, wechat
from huihua.access.credentials import Access
from huihua.config import Settings
from huihua.errors import (
    Forbidden,
    HuihuaError,
    MethodNotAllowed,
    NotFound,
    StorageUnavailable,
)
from huihua.http import pages
from huihua.http.browsers import BrowserGuard
from huihua.http.endpoints import ENDPOINTS, Context, Endpoint
from huihua.http.metrics import CONTENT_TYPE as METRICS_TYPE
from huihua.http.metrics import new_metrics
from huihua.http.observe import UNKNOWN_ROUTE, AccessLogObserver, Observer, unexpected
from huihua.http.observe import observers as observers_of
from huihua.http.openapi import build_openapi
from huihua.http.pipeline import HEADERS, PostEndpoint
from huihua.ids import new_id
from huihua.relay.hub import Relay
from huihua.service import retention
from huihua.service.replies import Replies
from huihua.store import Store, open_store
from huihua.wechat.services import WeChatServices
from huihua.wire.parse import valid_request_id
from huihua.wire.replies import HealthReply, error_body
from huihua.wire.rules import Limits

log = logging.getLogger("huihua")

HEALTH_TIMEOUT_S = 5.0
REPLIES_CLOSE_S = 5.0  # the last writes of the replies a stopping server fails
STOP_MARGIN_S = 2.0  # the replies in flight end this long before the shutdown timeout
_encode = msgspec.json.Encoder().encode


def _reply(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=HEADERS)


def _failure(request_id: str, error: HuihuaError) -> Response:
    response = _reply(error_body(request_id, error), error.status)
    if error.headers:
        response.headers.update(error.headers)
    return response


class HuihuaApp:
    """The ASGI app: POSTs to a known endpoint go straight to it, the rest to Starlette.

    A request to a known route (path and method) from a browser of another site, or with
    auth off to a Host that is not this machine's, is refused first (ok 4, browsers.py).
    """

    def __init__(
        self,
        starlette: Starlette,
        posts: dict[str, PostEndpoint],
        cors_origins: list[str],
        guard: BrowserGuard,
        observe: Observer,
        context: dict[str, Context] | None = None,
    ) -> None:
        self.starlette = starlette
        self._context = context if context is not None else {}
        self.state = starlette.state
        self._posts = posts
        self._guard = guard
        self._observe = observe
        # The routes Starlette serves, as (method, path): the guard runs after 404 and 405.
        self._other_routes = frozenset(
            (method, route.path)
            for route in starlette.routes
            if isinstance(route, Route)
            for method in route.methods or ()
        )
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

    def stopping(self, grace_s: float | None) -> None:
        """The server stops (http/protocol.py, on SIGTERM): event streams end, so their
        clients follow on another server, and the replies in flight get until shortly
        before the shutdown timeout to finish, then fail with their text kept."""
        ctx = self._context.get("ctx")
        if ctx is None or ctx.stopping.is_set():
            return
        ctx.stopping.set()
        if ctx.replies is not None:
            ctx.replies.relay.drain((grace_s or 0) - STOP_MARGIN_S)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._cors is not None:
            await self._cors(scope, receive, send)
        else:
            await self._route(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            endpoint = self._posts.get(path) if method == "POST" else None
            if endpoint is not None or (method, path) in self._other_routes:
                refusal = self._guard.refusal(scope)
                if refusal is not None:  # before the body is read
                    await self._refuse(refusal, path, scope, receive, send)
                    return
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.starlette(scope, receive, send)

    async def _refuse(
        self, refusal: str, route: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = time.perf_counter()
        request_id = new_id()
        error = Forbidden(refusal)
        await _failure(request_id, error)(scope, receive, send)
        self._observe(route, error.ok, error.status, time.perf_counter() - started, request_id)


def served_endpoints(settings: Settings, endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """Return the endpoints these settings serve: /login only with WeChat configured, the
    replies of §8 only with a model."""
    return [
        e
        for e in endpoints
        if (e.path != "/login" or wechat.enabled(settings))
        and (not e.model or bool(settings.llm_base_url))
    ]


NO_MODEL = "path: no model is configured (HUIHUA_LLM_BASE_URL): {path} is not served"


def _open_replies(settings: Settings, store: Store, on_finish: Any) -> Replies:
    """Return the replies' use-case context, their relay started (§8), with WeChat's
    content check and subscription message when configured (§8.6-8.7)."""
    wechat_services = WeChatServices.from_settings(settings)
    relay = Relay.from_settings(settings, store, on_finish=on_finish, wechat=wechat_services)
    relay.open()
    return Replies(
        relay=relay,
        system_prompt=settings.llm_system_prompt,
        context_tokens=settings.llm_context_tokens,
        daily_tokens=settings.llm_daily_tokens,
        user_limit=settings.llm_user_replies,
        streaming_timeout_ms=settings.streaming_timeout * 1000,
    )


def create_app(
    settings: Settings,
    *,
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    observers: Iterable[Observer] = (),
    started: Callable[[], None] | None = None,
) -> HuihuaApp:
    """Return the huihua ASGI app for these settings; the store opens at start-up.

    ``endpoints``: the table to serve (ENDPOINTS). ``observers``: called once per request,
    after the access log (observe.py). ``started``: called once start-up is done (``huihua
    serve`` tunes the process there).
    """
    context: dict[str, Context] = {}
    endpoints = tuple(endpoints)
    served = served_endpoints(settings, endpoints)
    limits = Limits(
        max_msg_chars=settings.max_msg_chars,
        max_meta_bytes=settings.max_meta_bytes,
        max_profile_bytes=settings.max_profile_bytes,
        models=settings.models,
    )
    # The document describes what is served, as these settings serve it.
    openapi_body = _encode(build_openapi(served, auth=settings.auth, limits=limits))
    metrics = new_metrics()
    observe = observers_of([AccessLogObserver(), metrics, *observers])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = open_store(settings)
        metrics.watch(store)
        for warning in store.warnings:
            log.warning("durability: %s", warning)
        limiter = ratelimit.open_limiter(settings)
        if isinstance(limiter, ratelimit.RedisLimiter) and not await limiter.ping():
            log.warning("rate limits: Redis does not answer at start; not limiting until it does")
        if settings.auth and settings.workers > 1 and not settings.redis_url:
            log.warning("rate limits: per worker process; set HUIHUA_REDIS_URL to share them")
        client = wechat.WeChat(settings) if wechat.enabled(settings) else None

        async def token_nonce(user_id: str) -> str | None:
            return await service.token_nonce(store, user_id)

        access = Access(settings, token_nonce, limiter)
        replies = None
        if settings.llm_base_url:
            replies = _open_replies(settings, store, metrics.replies.reply)
        context["ctx"] = Context(
            settings=settings,
            limits=limits,
            store=store,
            access=access,
            wechat=client,
            replies=replies,
        )
        app.state.store = store
        sweeps = asyncio.create_task(
            retention.sweep_forever(
                store,
                idempotency_hours=settings.idempotency_hours,
                retention_days=settings.retention_days,
                interval_s=settings.purge_interval,
            )
        )
        if started is not None:
            started()
        try:
            yield
        finally:
            sweeps.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeps
            context.pop("ctx", None)
            if replies is not None:  # the replies in flight end, or fail, and are written
                finish_s = settings.shutdown_timeout - STOP_MARGIN_S
                await replies.relay.close(finish_s, REPLIES_CLOSE_S)
                if replies.relay.wechat is not None:
                    await replies.relay.wechat.aclose()
            if client is not None:
                await client.aclose()
            await limiter.aclose()
            store.close()
            logs.flush()  # uvicorn re-raises SIGTERM after shutdown: no atexit flush follows

    def observed(route: str, ok: int, response: Response, started: float, rid: str) -> Response:
        observe(route, ok, response.status_code, time.perf_counter() - started, rid)
        return response

    async def healthz(request: Request) -> Response:
        started = time.perf_counter()
        store = context["ctx"].store
        given = request.headers.get("x-request-id")
        reply = HealthReply(
            request_id=given if given and valid_request_id(given) else new_id(),
            version=__version__,
            store=store.kind,
            durable=not store.warnings,
            warnings=store.warnings,
        )
        try:
            await asyncio.wait_for(store.ping(), HEALTH_TIMEOUT_S)
        except (StorageUnavailable, TimeoutError):
            reply.ok, reply.failed = StorageUnavailable.ok, "storage: does not answer"
            response = _reply(_encode(reply), StorageUnavailable.status)
        else:
            refusing = store.refusing_writes  # reads work on a full disk; writes do not
            if refusing is None:
                response = _reply(_encode(reply))
            else:
                reply.ok = StorageUnavailable.ok
                reply.failed = (
                    f"storage: refusing writes since {refusing.since}: the disk is full "
                    f"({refusing.because})"
                )
                response = _reply(_encode(reply), StorageUnavailable.status)
        return observed("/healthz", reply.ok, response, started, reply.request_id)

    async def openapi(request: Request) -> Response:
        started = time.perf_counter()
        request_id = new_id()
        try:  # with auth on, the API's description is for the back end only
            await context["ctx"].access.require_service(request.scope)
        except HuihuaError as error:
            response = _failure(request_id, error)
            return observed("/openapi.json", error.ok, response, started, request_id)
        response = Response(openapi_body, media_type="application/json", headers=HEADERS)
        return observed("/openapi.json", 0, response, started, request_id)

    async def metrics_text(request: Request) -> Response:
        started = time.perf_counter()
        request_id = new_id()
        try:  # with auth on, for Prometheus with the service key only (docs/api.md §6)
            await context["ctx"].access.require_service(request.scope)
        except HuihuaError as error:
            response = _failure(request_id, error)
            return observed("/metrics", error.ok, response, started, request_id)
        response = Response(metrics.scrape(), media_type=METRICS_TYPE, headers=HEADERS)
        return observed("/metrics", 0, response, started, request_id)

    model_paths = {e.path for e in endpoints if e.model} - {e.path for e in served}

    async def not_found(request: Request, exc: Exception) -> Response:
        started = time.perf_counter()
        request_id = new_id()
        path = request.url.path
        if path in model_paths:
            error = NotFound(NO_MODEL.format(path=path))
        else:
            error = NotFound(f"path: no such endpoint {path}")
        return observed(UNKNOWN_ROUTE, error.ok, _failure(request_id, error), started, request_id)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        started = time.perf_counter()
        request_id = new_id()
        headers = exc.headers if isinstance(exc, HTTPException) else None
        allow = (headers or {}).get("Allow", "")
        error = MethodNotAllowed(f"method: {request.method} is not allowed here; use {allow}")
        response = _failure(request_id, error)
        if allow:
            response.headers["allow"] = allow
        return observed(request.url.path, error.ok, response, started, request_id)

    async def internal(request: Request, exc: Exception) -> Response:
        started = time.perf_counter()
        request_id = new_id()
        route = _route_of(request.url.path, served)
        error = unexpected(exc, request_id, route)
        return observed(route, error.ok, _failure(request_id, error), started, request_id)

    posts = {e.path: PostEndpoint(e, context, observe) for e in served}
    routes = [Route(path, endpoint, methods=["POST"]) for path, endpoint in posts.items()]
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
        *pages.routes(settings.auth, observed, _failure),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: method_not_allowed, Exception: internal},
    )
    app.router.redirect_slashes = False  # "/add_chat/" is an unknown path, not a redirect
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    return HuihuaApp(app, posts, origins, BrowserGuard(settings, origins), observe, context)


def _route_of(path: str, served: list[Endpoint]) -> str:
    known = {e.path for e in served} | {"/healthz", "/openapi.json", "/metrics", *pages.PATHS}
    return path if path in known else UNKNOWN_ROUTE
