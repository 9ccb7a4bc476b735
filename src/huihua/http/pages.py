"""The static pages' GET routes: /docs (Swagger UI) and /console (the operator's console),
each a page and its files, served by huihua itself with their Content-Security-Policy."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from huihua.errors import NotFound
from huihua.http import console_page, docs
from huihua.http.observe import UNKNOWN_ROUTE
from huihua.ids import new_id

PATHS = ("/docs", "/console")
Observed = Callable[[str, int, Response, float, str], Response]
Failure = Callable[[str, NotFound], Response]


def routes(auth: bool, observed: Observed, failure: Failure) -> list[Route]:
    """Return the GET routes of the pages and their files. ``observed(route, ok, response,
    started, request_id)`` ends every request; ``failure`` makes an error's envelope."""

    def reply(request: Request, file: docs.File, route: str, started: float) -> Response:
        body, headers = file.pick(request.headers.get("accept-encoding", ""))
        response = Response(body, media_type=file.media_type, headers=headers)
        return observed(route, 0, response, started, new_id())

    def serving(
        route: str, page: Callable[[bool], docs.File], asset: Callable[[str], docs.File | None]
    ) -> list[Route]:
        async def page_route(request: Request) -> Response:
            return reply(request, page(auth), route, time.perf_counter())

        async def asset_route(request: Request) -> Response:
            started = time.perf_counter()
            found = asset(request.path_params["name"])
            if found is None:
                request_id = new_id()
                error = NotFound(f"path: no such endpoint {request.url.path}")
                return observed(
                    UNKNOWN_ROUTE, error.ok, failure(request_id, error), started, request_id
                )
            return reply(request, found, route, started)

        return [
            Route(route, page_route, methods=["GET"]),
            Route(route + "/{name}", asset_route, methods=["GET"]),
        ]

    return [
        *serving("/docs", docs.page, docs.asset),
        *serving("/console", console_page.page, console_page.asset),
    ]
