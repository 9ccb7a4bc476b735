"""A fake WeChat on loopback: a real HTTP server, answering in WeChat's exact shapes.

``jscode2session`` (login) answers by the code, below. The token-bearing APIs of replies
(API.md §8.6-8.7, ../shared/notes/wechat.md):

- ``POST /cgi-bin/stable_token``: the app's current token (``token_calls`` counts them,
  ``force_refreshes`` the calls that asked for one); ``expire_token()`` makes the next
  one, and every call with the old answers 40001 as WeChat does;
- ``POST /wxa/msg_sec_check`` (version 2): by the text, ``RISKY`` → ``risky`` (label
  20001), ``REVIEW`` → ``review`` (label 20012), else ``pass``; an openid starting
  ``gone`` → 61010; ``check_down`` set: every check answers that way (``"status500"``,
  ``"busy"`` errcode -1, ``"slow"`` past any timeout); ``checks`` holds the bodies;
- ``POST /cgi-bin/message/subscribe/send``: ``sent`` holds the bodies; ``send_errcode``
  set (43101), each is refused with it.

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
import uuid
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
        self.reset_api()
        self._used: set[str] = set()
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/sns/jscode2session", self._jscode2session),
                Route("/elsewhere", self._elsewhere),
                Route("/cgi-bin/stable_token", self._stable_token, methods=["POST"]),
                Route("/wxa/msg_sec_check", self._msg_sec_check, methods=["POST"]),
                Route("/cgi-bin/message/subscribe/send", self._send, methods=["POST"]),
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

    def reset_api(self) -> None:
        """Forget the token APIs' records and scripts (a new token is made)."""
        self.token = f"TOKEN-CANARY-{uuid.uuid4().hex}"
        self.token_life = 7200
        self.token_calls = 0
        self.force_refreshes = 0
        self.checks: list[dict[str, Any]] = []
        self.check_down: str | None = None
        self.sent: list[dict[str, Any]] = []
        self.send_errcode: int | None = None
        self.bad_tokens = 0  # calls that came with a token no longer valid

    def expire_token(self) -> None:
        """Make a new token; the old one is refused from now on (40001)."""
        self.token = f"TOKEN-CANARY-{uuid.uuid4().hex}"

    async def _stable_token(self, request: Request) -> Response:
        body = await request.json()
        self.token_calls += 1
        if body.get("appid") != APPID or body.get("secret") != SECRET:
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret rid: f-1"})
        if body.get("grant_type") != "client_credential":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type rid: f-2"})
        if body.get("force_refresh"):
            self.force_refreshes += 1
            self.expire_token()
        return JSONResponse({"access_token": self.token, "expires_in": self.token_life})

    def _token_refused(self, request: Request) -> Response | None:
        if request.query_params.get("access_token") == self.token:
            return None
        self.bad_tokens += 1
        return JSONResponse(
            {
                "errcode": 40001,
                "errmsg": "invalid credential, access_token is invalid or not latest rid: f-3",
            }
        )

    async def _msg_sec_check(self, request: Request) -> Response:
        refused = self._token_refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.checks.append(body)
        if self.check_down == "status500":
            return Response("oops", status_code=500)
        if self.check_down == "busy":
            return JSONResponse({"errcode": -1, "errmsg": "system error rid: f-4"})
        if self.check_down == "slow":
            await asyncio.sleep(SLOW_S)
        content, openid = body.get("content"), body.get("openid")
        if body.get("version") != 2 or body.get("scene") not in (1, 2, 3, 4):
            return JSONResponse({"errcode": 40129, "errmsg": "invalid scene rid: f-5"})
        if not isinstance(content, str) or not content:
            return JSONResponse({"errcode": 44002, "errmsg": "empty post data rid: f-6"})
        if len(content.encode("utf-16-le")) // 2 > 2500:
            return JSONResponse({"errcode": 47001, "errmsg": "content too long rid: f-7"})
        if not isinstance(openid, str) or not openid:
            return JSONResponse({"errcode": 40003, "errmsg": "invalid openid rid: f-8"})
        if openid.startswith("gone"):
            return JSONResponse({"errcode": 61010, "errmsg": "code is expired rid: f-9"})
        suggest, label = "pass", 100
        if "RISKY" in content:
            suggest, label = "risky", 20001
        elif "REVIEW" in content:
            suggest, label = "review", 20012
        detail = [
            {"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label},
            {"strategy": "keyword", "errcode": 0, "suggest": suggest, "label": label},
        ]
        if suggest != "pass":
            detail[0]["prob"] = 90
            detail[1]["keyword"] = suggest.upper()
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "trace_id": f"trace-{len(self.checks)}",
                "result": {"suggest": suggest, "label": label},
                "detail": detail,
            }
        )

    async def _send(self, request: Request) -> Response:
        refused = self._token_refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.sent.append(body)
        if self.send_errcode is not None:
            errmsg = "user refuse to accept the msg rid: f-10"
            return JSONResponse({"errcode": self.send_errcode, "errmsg": errmsg})
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

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
