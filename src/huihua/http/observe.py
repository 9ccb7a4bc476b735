"""What every request ends in, reported once: the observe hook, and unexpected errors.

Every path — a POST endpoint, a GET route, an unknown path (404), a wrong method (405), an
unexpected error — calls the app's observer once with ``(route, ok, status, seconds,
request_id, who)``. The access log is one observer, the metrics (metrics.py) another.
``route`` is the endpoint's path, never a raw unknown path (a label must not grow with
what clients send): an unknown path is :data:`UNKNOWN_ROUTE`.

:func:`unexpected` is the one function that turns an error nobody expected into the ok 9
the client gets, logging its types and stack (never its messages: logs.describe).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from huihua import logs
from huihua.errors import InternalError

log = logging.getLogger("huihua")

UNKNOWN_ROUTE = "(unknown)"
CLIENT_GONE = 499  # nginx's status for a client that left before its reply


class Observer(Protocol):
    """observer(route, ok, status, seconds, request_id, who); ok None: no reply was made.
    A path that knows no caller (a refusal, a GET route) leaves ``who`` out (``-``), one
    without a request id leaves that out too."""

    def __call__(
        self,
        route: str,
        ok: int | None,
        status: int,
        seconds: float,
        request_id: str | None = None,
        who: str = "-",
        /,
    ) -> None: ...


class AccessLogObserver:
    """One access line per request: request_id, route, ok, status, time, and who called."""

    def __init__(self) -> None:
        self._log = logs.AccessLog()

    def __call__(
        self,
        route: str,
        ok: int | None,
        status: int,
        seconds: float,
        request_id: str | None = None,
        who: str = "-",
    ) -> None:
        code = "-" if ok is None else ok
        self._log.info(
            f"request_id={request_id or '-'} route={route} ok={code} status={status} "
            f"ms={seconds * 1000:.1f} who={who}"
        )


def observers(each: Iterable[Observer]) -> Observer:
    """Return one observer that calls each of these in order; one that raises is logged,
    not fatal. A single observer is returned as it is (the access log alone: the hot path
    pays no loop)."""
    each = tuple(each)
    if len(each) == 1:
        return each[0]

    def observe(
        route: str,
        ok: int | None,
        status: int,
        seconds: float,
        request_id: str | None = None,
        who: str = "-",
    ) -> None:
        for observer in each:
            try:
                observer(route, ok, status, seconds, request_id, who)
            except Exception as error:
                log.error("observer failed: %s", logs.describe(error))

    return observe


def unexpected(error: BaseException, request_id: str, route: str) -> InternalError:
    """Log an error nobody expected, by its types and stack; return the ok 9 to answer."""
    log.error(
        "unexpected error request_id=%s route=%s: %s", request_id, route, logs.describe(error)
    )
    return InternalError(f"internal error; logged with request_id {request_id}")
