"""uvicorn's httptools protocol with the two timeouts it lacks: the request head, the body.

uvicorn closes an idle keep-alive connection (``keep_alive_timeout``) and bounds a graceful
shutdown (``shutdown_timeout``), but a connection that opens and sends nothing, or half a
request head, or a body at 2 bytes a second, is held for ever: 1,100 of them used up the
process's file descriptors. Here:

- the head (request line and headers) must be complete within ``head_timeout`` seconds of
  the connection opening or the request's first byte, or the connection is closed without
  a reply (there is no request to answer);
- the body must be complete within ``body_timeout`` seconds of the head. If no reply has
  been started, the client gets the envelope with ok 1 (HTTP 400, ``body: not received in
  full within N s``) and ``Connection: close``; the app sees the client gone. Otherwise
  the connection is closed.

Each timer is one ``call_later`` per request, cancelled by the same read that completes
the head or the body (a usual request arrives whole in one read). ``huihua serve`` sets
the seconds on uvicorn's config as ``huihua_timeouts`` (it is pickled to the workers).
On SIGTERM a body still arriving has until just before ``shutdown_timeout`` ends; then its
connection is closed without a reply, rather than its task cancelled mid-read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from huihua.errors import InvalidRequest
from huihua.ids import new_id
from huihua.wire.replies import error_body

log = logging.getLogger("huihua")

DEFAULT_TIMEOUTS = (10.0, 30.0)  # head, body: config.py's defaults
SHUTDOWN_MARGIN_S = 0.5  # a body still arriving this close to the end of a stop is dropped


def body_timeout_reply(request_id: str, seconds: float) -> bytes:
    """Return the raw HTTP reply to a body not complete in time: ok 1, and close."""
    body = error_body(
        request_id, InvalidRequest(f"body: not received in full within {seconds:g} s")
    )
    head = (
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n"
    ).encode()
    return head + body


class HuihuaProtocol(HttpToolsProtocol):
    """HttpToolsProtocol, with a deadline on the request head and on the request body."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        timeouts: tuple[float, float] = getattr(config, "huihua_timeouts", DEFAULT_TIMEOUTS)
        self._head_timeout, self._body_timeout = timeouts
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:  # a later request on a kept-alive connection
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_late)

    def on_headers_complete(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()
        self._body_timer = self.loop.call_later(self._body_timeout, self._body_late)

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def shutdown(self) -> None:
        """The server is stopping: idle connections close now (uvicorn), one whose request
        body is still arriving gets until just before the grace period ends, then is closed
        without a reply (the app sees the client gone; nothing is written), so that no
        request task has to be cancelled mid-read."""
        super().shutdown()
        stopping = getattr(self.app, "stopping", None)  # the app's replies: http/app.py
        if stopping is not None:
            stopping(self.config.timeout_graceful_shutdown)
        if self._body_timer is not None and not self.transport.is_closing():
            self._body_timer.cancel()
            grace = self.config.timeout_graceful_shutdown
            delay = max(0.0, grace - SHUTDOWN_MARGIN_S) if grace is not None else 0.0
            self._body_timer = self.loop.call_later(delay, self._stopping_late)

    def _stopping_late(self) -> None:
        self._body_timer = None
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _body_late(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        alone = not self.pipeline  # no earlier request's reply is still being written
        if cycle is not None and alone and not cycle.response_started:
            cycle.response_started = cycle.response_complete = True
            request_id = new_id()
            self.transport.write(body_timeout_reply(request_id, self._body_timeout))
            log.warning(
                "request_id=%s: body not complete within %g s; answered ok 1 and closed",
                request_id,
                self._body_timeout,
            )
        if cycle is not None:
            cycle.disconnected = True  # the app's receive() now says the client is gone
            cycle.message_event.set()
        self.transport.close()
