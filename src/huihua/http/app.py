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
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from huihua import logs, service
from huihua.access import ratelimit, wechat
from huihua.access.credentials import Access
from huihua.config import Settings
from huihua.errors import (
    Forbidden,
)
from huihua.http import pages
from huihua.http import routes as get
from huihua.http.browsers import BrowserGuard
from huihua.http.endpoints import ENDPOINTS, Context, Endpoint
from huihua.http.metrics import new_metrics
from huihua.http.observe import AccessLogObserver, Observer
from huihua.http.observe import observers as observers_of
from huihua.http.openapi import build_openapi
from huihua.http.pipeline import PostEndpoint
from huihua.http.routes import Served, failure
from huihua.ids import new_id
from huihua.relay.hub import Relay
from huihua.service import retention
from huihua.service.replies import Replies
from huihua.store import Store, open_store
from huihua.wechat.services import WeChatServices
from huihua.wire.rules import Limits

log = logging.getLogger("huihua")

REPLIES_CLOSE_S = 5.0  # the last writes of the replies a stopping server fails
STOP_MARGIN_S = 2.0  # the replies in flight end this long before the shutdown timeout
_encode = msgspec.json.Encoder().encode


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
        served: Served,
    ) -> None:
        self.starlette = starlette
        self.served = served
        self.state = starlette.state
        self._posts = posts
        self._guard = guard
        self._observe = served.observe
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
        ctx = self.served.ctx
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
        await failure(request_id, error)(scope, receive, send)
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


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Start-up: the store opened, the rate limiter, WeChat's client, the relay of §8 and
    the retention sweep, as the use cases' context (Served.ctx); shutdown closes them."""
    served: Served = app.state.huihua
    settings = served.settings
    store = open_store(settings)
    served.metrics.watch(store)
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
        replies = _open_replies(settings, store, served.metrics.replies.reply)
    served.ctx = Context(
        settings=settings,
        limits=served.limits,
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
    if served.started is not None:
        served.started()
    try:
        yield
    finally:
        sweeps.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeps
        served.ctx = None
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
    endpoints = tuple(endpoints)
    served_list = served_endpoints(settings, endpoints)
    limits = Limits(
        max_msg_chars=settings.max_msg_chars,
        max_meta_bytes=settings.max_meta_bytes,
        max_profile_bytes=settings.max_profile_bytes,
        models=settings.models,
    )
    metrics = new_metrics()
    served = Served(
        settings=settings,
        limits=limits,
        endpoints=served_list,
        observe=observers_of([AccessLogObserver(), metrics, *observers]),
        metrics=metrics,
        # The document describes what is served, as these settings serve it.
        openapi_body=_encode(build_openapi(served_list, auth=settings.auth, limits=limits)),
        model_paths={e.path for e in endpoints if e.model} - {e.path for e in served_list},
        started=started,
    )
    posts = {e.path: PostEndpoint(e, served, served.observe) for e in served_list}
    routes = [Route(path, endpoint, methods=["POST"]) for path, endpoint in posts.items()]
    routes += [
        Route("/healthz", get.healthz, methods=["GET"]),
        Route("/openapi.json", get.openapi, methods=["GET"]),
        Route("/metrics", get.metrics_text, methods=["GET"]),
        *pages.routes(settings.auth, served.observed, failure),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            404: get.not_found,
            405: get.method_not_allowed,
            Exception: get.internal,
        },
    )
    app.state.huihua = served
    app.router.redirect_slashes = False  # "/add_chat/" is an unknown path, not a redirect
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    return HuihuaApp(app, posts, origins, BrowserGuard(settings, origins), served)
