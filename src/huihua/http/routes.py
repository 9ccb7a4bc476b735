"""The routes Starlette serves (GET /healthz, /openapi.json, /metrics) and its error pages
(404, 405, an unexpected error), as module-level functions over what the app serves
(:class:`Served`, on ``app.state.huihua``).

Each handler returns an :class:`Outcome`; :func:`observing` times it and reports it to the
observers once (observe.py), as every path of the app does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from huihua import __version__
from huihua.config import Settings
from huihua.errors import HuihuaError, MethodNotAllowed, NotFound, StorageUnavailable
from huihua.http import pages
from huihua.http.context import Context
from huihua.http.endpoint import Endpoint
from huihua.http.metrics import CONTENT_TYPE as METRICS_TYPE
from huihua.http.metrics import LocalMetrics, SharedMetrics
from huihua.http.observe import UNKNOWN_ROUTE, Observer, unexpected
from huihua.http.pipeline import HEADERS
from huihua.ids import new_id
from huihua.wire.parse import valid_request_id
from huihua.wire.replies import HealthReply, error_body
from huihua.wire.rules import Limits

HEALTH_TIMEOUT_S = 5.0
NO_MODEL = "path: no model is configured (HUIHUA_LLM_BASE_URL): {path} is not served"
_encode = msgspec.json.Encoder().encode


@dataclass
class Served:
    """What the app serves, fixed when it is made, and ``ctx``: the use cases' context,
    from start-up (the store opened) to shutdown; None outside them."""

    settings: Settings
    limits: Limits
    endpoints: list[Endpoint]
    observe: Observer
    metrics: LocalMetrics | SharedMetrics
    openapi_body: bytes
    model_paths: set[str]  # endpoints of §8 not served: no model is configured
    started: Callable[[], None] | None = None
    ctx: Context | None = field(default=None)

    def context(self) -> Context:
        """The use cases' context; RuntimeError before start-up or after shutdown."""
        if self.ctx is None:
            raise RuntimeError("the app is not started")
        return self.ctx

    def observed(
        self, route: str, ok: int, response: Response, started: float, request_id: str
    ) -> Response:
        """Report a request that began at ``started`` to the observers; return its response."""
        seconds = time.perf_counter() - started
        self.observe(route, ok, response.status_code, seconds, request_id)
        return response

    def route_of(self, path: str) -> str:
        """The route a path is observed under: its own when known, else UNKNOWN_ROUTE."""
        known = {e.path for e in self.endpoints} | {"/healthz", "/openapi.json", "/metrics"}
        return path if path in known or path in pages.PATHS else UNKNOWN_ROUTE


class Outcome(NamedTuple):
    """What a route answered: observed as (route, ok, the response's status, request id)."""

    route: str
    ok: int
    response: Response
    request_id: str


def reply(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=HEADERS)


def failure(request_id: str, error: HuihuaError) -> Response:
    """The envelope of an error, with its status and headers."""
    response = reply(error_body(request_id, error), error.status)
    if error.headers:
        response.headers.update(error.headers)
    return response


def served_by(request: Request) -> Served:
    served: Served = request.app.state.huihua
    return served


def observing(
    handler: Callable[[Request, Served], Awaitable[Outcome]],
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette route of ``handler``, its outcome timed and observed once."""

    async def route(request: Request) -> Response:
        started = time.perf_counter()
        served = served_by(request)
        outcome = await handler(request, served)
        seconds = time.perf_counter() - started
        status = outcome.response.status_code
        served.observe(outcome.route, outcome.ok, status, seconds, outcome.request_id)
        return outcome.response

    return route


def observing_error(
    handler: Callable[[Request, Exception, Served], Outcome],
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A Starlette exception handler of ``handler``, its outcome observed once."""

    async def on_error(request: Request, exc: Exception) -> Response:
        started = time.perf_counter()
        served = served_by(request)
        outcome = handler(request, exc, served)
        seconds = time.perf_counter() - started
        status = outcome.response.status_code
        served.observe(outcome.route, outcome.ok, status, seconds, outcome.request_id)
        return outcome.response

    return on_error


async def _healthz(request: Request, served: Served) -> Outcome:
    store = served.context().store
    given = request.headers.get("x-request-id")
    health = HealthReply(
        request_id=given if given and valid_request_id(given) else new_id(),
        version=__version__,
        store=store.kind,
        durable=not store.warnings,
        warnings=store.warnings,
    )
    status = 200
    try:
        await asyncio.wait_for(store.ping(), HEALTH_TIMEOUT_S)
    except (StorageUnavailable, TimeoutError):
        health.ok, health.failed = StorageUnavailable.ok, "storage: does not answer"
        status = StorageUnavailable.status
    else:
        refusing = store.refusing_writes  # reads work on a full disk; writes do not
        if refusing is not None:
            health.ok, status = StorageUnavailable.ok, StorageUnavailable.status
            health.failed = (
                f"storage: refusing writes since {refusing.since}: the disk is full "
                f"({refusing.because})"
            )
    return Outcome("/healthz", health.ok, reply(_encode(health), status), health.request_id)


def _for_the_service(
    route: str, body: Callable[[Served], bytes], media_type: str
) -> Callable[[Request, Served], Awaitable[Outcome]]:
    """A GET route for the back end: with auth on, the service key only (docs/api.md §6)."""

    async def handler(request: Request, served: Served) -> Outcome:
        request_id = new_id()
        try:
            await served.context().access.require_service(request.scope)
        except HuihuaError as error:
            return Outcome(route, error.ok, failure(request_id, error), request_id)
        response = Response(body(served), media_type=media_type, headers=HEADERS)
        return Outcome(route, 0, response, request_id)

    return handler


healthz = observing(_healthz)
openapi = observing(_for_the_service("/openapi.json", lambda s: s.openapi_body, "application/json"))
metrics_text = observing(_for_the_service("/metrics", lambda s: s.metrics.scrape(), METRICS_TYPE))


@observing_error
def not_found(request: Request, exc: Exception, served: Served) -> Outcome:
    request_id = new_id()
    path = request.url.path
    if path in served.model_paths:
        error = NotFound(NO_MODEL.format(path=path))
    else:
        error = NotFound(f"path: no such endpoint {path}")
    return Outcome(UNKNOWN_ROUTE, error.ok, failure(request_id, error), request_id)


@observing_error
def method_not_allowed(request: Request, exc: Exception, served: Served) -> Outcome:
    request_id = new_id()
    headers = exc.headers if isinstance(exc, HTTPException) else None
    allow = (headers or {}).get("Allow", "")
    error = MethodNotAllowed(f"method: {request.method} is not allowed here; use {allow}")
    response = failure(request_id, error)
    if allow:
        response.headers["allow"] = allow
    return Outcome(request.url.path, error.ok, response, request_id)


@observing_error
def internal(request: Request, exc: Exception, served: Served) -> Outcome:
    request_id = new_id()
    route = served.route_of(request.url.path)
    error = unexpected(exc, request_id, route)
    return Outcome(route, error.ok, failure(request_id, error), request_id)
