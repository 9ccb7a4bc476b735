"""A fake WeChat ``jscode2session`` on loopback: a real HTTP server, answering by the code.

Like the real one it accepts each code once (a second use answers errcode 40163) and
checks the app id and secret. What a code makes it answer (anything after a ``~`` only
makes the code unique):

- ``ok-<openid>``: success, with a ``session_key`` that must never leave the server;
- ``err-<errcode>``: that error (``err--1``: busy);
- ``slow-…``: success, but only after SLOW_S seconds (past any test timeout);
- ``redirect-…``: a 302 to another path; ``huge-…``: a 200 of HUGE_BYTES;
- ``html-…``: a 200 that is not JSON; ``status500-…``: a 500;
- ``noopenid-…``, ``badopenid-…``, ``array-…``, ``strcode-…``: JSON of the wrong shape.

It writes no access line: the URL it is asked for holds the code and the secret, and the
log tests look for those in every line the test process writes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from .helpers import start_in_thread

APPID = "wx-test-appid"
SECRET = "WECHAT-SECRET-CANARY-0123456789abcdef"
SESSION_KEY = "SESSION-KEY-CANARY-0123456789"
SLOW_S = 3.0
HUGE_BYTES = 8 * 1024 * 1024


class FakeWeChat:
    """The fake server, in a thread; ``calls`` lists the codes it was asked about."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.calls: list[str] = []
        self._used: set[str] = set()
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/sns/jscode2session", self._jscode2session),
                Route("/elsewhere", self._elsewhere),
            ]
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=_NoAccessLine,
        )
        self.server, self.thread = start_in_thread(config, "fake WeChat")

    def count(self, code: str) -> int:
        """Return how many times ``code`` was sent here."""
        with self._lock:
            return self.calls.count(code)

    async def _jscode2session(self, request: Request) -> Response:
        params = request.query_params
        code = params.get("js_code", "")
        with self._lock:
            self.calls.append(code)
            used = code in self._used
            self._used.add(code)
        if params.get("appid") != APPID or params.get("secret") != SECRET:
            return JSONResponse({"errcode": 40125, "errmsg": f"invalid appsecret {code}"})
        if params.get("grant_type") != "authorization_code":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        if used:
            return JSONResponse({"errcode": 40163, "errmsg": f"code been used, {code}"})
        kind, _, rest = code.partition("-")
        rest = rest.split("~")[0]  # what follows ~ only makes the code unique
        if kind == "ok":
            return _success(rest)
        if kind == "err":
            return JSONResponse({"errcode": int(rest), "errmsg": f"error for {code}"})
        if kind == "slow":
            await asyncio.sleep(SLOW_S)
            return _success("o" + rest)
        if kind == "redirect":
            return Response(status_code=302, headers={"location": f"{self.base}/elsewhere"})
        if kind == "huge":
            return StreamingResponse(_huge(), media_type="application/json")
        if kind == "html":
            return Response("<html>busy</html>", media_type="text/html")
        if kind == "status500":
            return Response("oops", status_code=500)
        if kind == "noopenid":
            return JSONResponse({"session_key": SESSION_KEY})
        if kind == "badopenid":
            return JSONResponse({"openid": "o'; DROP TABLE users; --", "session_key": SESSION_KEY})
        if kind == "array":
            return JSONResponse([{"openid": "oArray"}])
        if kind == "strcode":
            return JSONResponse({"errcode": "40029", "openid": "oStrcode"})
        return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})

    async def _elsewhere(self, request: Request) -> Response:
        return _success("oRedirected")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class _NoAccessLine(H11Protocol):
    """uvicorn's h11 protocol, with the access line off for every connection.

    ``access_log=False`` is not enough: uvicorn writes the line whenever the process-wide
    ``uvicorn.access`` logger has a handler when a connection opens, and a test capture may
    have added one (pytest 9.2 attaches its capture to every non-propagating logger).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


def _success(openid: str) -> Response:
    # WeChat answers text/plain; the client must not rely on the media type.
    body: dict[str, Any] = {"openid": openid, "session_key": SESSION_KEY, "unionid": "u-" + openid}
    return JSONResponse(body, media_type="text/plain")


async def _huge() -> AsyncIterator[bytes]:
    yield b'{"openid": "oHuge", "padding": "'
    chunk = b"x" * 65536
    for _ in range(HUGE_BYTES // len(chunk)):
        yield chunk
    yield b'"}'
