"""The WeChat ``jscode2session`` client: a mini-program's ``wx.login`` code → its openid.

One call per login, made with the app id and secret, TLS verified, no redirects followed,
at most ``wechat_timeout_ms`` in all (however slowly the reply drips) and at most
:data:`MAX_REPLY_BYTES` read. WeChat's reply also carries the ``session_key`` (and maybe a
``unionid``): they are dropped here, never returned, stored or logged. The request URL
holds the secret and the code, so it is never logged either: httpx's own request log is
held at WARNING, and failures are logged by kind and ``errcode`` alone.

WeChat's failures map to ours::

    -1 (busy), unreachable, timeout, redirect, not JSON, too big   → ok 8, retry later
    40029 (bad code), 40163 (code already used)                    → ok 3
    45011 (too many logins)                                        → ok 7
    40226 (a high-risk user WeChat blocks)                         → ok 4
    40013, 40125, 40001, 41002, 41004 (our app id or secret)       → ok 9, logged
"""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import msgspec

from huihua import __version__
from huihua.config import Settings
from huihua.errors import (
    Forbidden,
    HuihuaError,
    InternalError,
    RateLimited,
    StorageUnavailable,
    Unauthenticated,
)

log = logging.getLogger("huihua.wechat")

PATH = "/sns/jscode2session"
MAX_REPLY_BYTES = 16_384  # a real reply is about 150 bytes
OPENID_MAX = 128
_OPENID = re.compile(r"[A-Za-z0-9_-]+")
_BAD_CODE = {40029, 40163}
_OUR_CONFIG = {40001, 40013, 40125, 41002, 41004}
_decode = msgspec.json.Decoder().decode


def enabled(settings: Settings) -> bool:
    """Return whether /login can work: WeChat credentials and a token secret are set."""
    return bool(settings.wechat_appid and settings.wechat_secret and settings.token_secret)


def _unavailable(why: str) -> StorageUnavailable:
    log.warning("wechat: jscode2session failed: %s", why)
    return StorageUnavailable("wechat: login service busy or unreachable; retry later")


class WeChat:
    """A pooled async client of jscode2session; ``openid(code)`` is the one call."""

    def __init__(self, settings: Settings) -> None:
        # The URL carries the secret and the code: httpx logs it at INFO, so never let it.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._url = settings.wechat_api_base.rstrip("/") + PATH
        self._appid = settings.wechat_appid
        self._secret = settings.wechat_secret
        self._timeout = settings.wechat_timeout_ms / 1000
        self._client = httpx.AsyncClient(
            verify=True,
            follow_redirects=False,
            trust_env=False,  # no proxy or CA bundle from the environment (config.py rule)
            timeout=httpx.Timeout(self._timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
            headers={"user-agent": f"huihua/{__version__}"},
        )

    async def openid(self, code: str) -> str:
        """Return the openid WeChat gives for ``code``; raise the mapped error otherwise."""
        params = {
            "appid": self._appid,
            "secret": self._secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._get(params)
        except TimeoutError:
            raise _unavailable("timed out") from None
        except httpx.HTTPError as error:
            raise _unavailable(type(error).__name__) from None
        try:
            reply = _decode(body)
        except msgspec.DecodeError:
            raise _unavailable("reply is not JSON") from None
        if not isinstance(reply, dict):
            raise _unavailable("reply is not a JSON object")
        errcode = reply.get("errcode") or 0
        if not isinstance(errcode, int):
            raise _unavailable("errcode is not a number")
        if errcode != 0:
            raise _mapped(errcode)
        openid = reply.get("openid")
        if not isinstance(openid, str) or not _OPENID.fullmatch(openid):
            raise _unavailable("reply has no usable openid")
        if len(openid) > OPENID_MAX:
            raise _unavailable("reply has no usable openid")
        return openid  # session_key and unionid go no further

    async def _get(self, params: dict[str, str]) -> bytes:
        async with self._client.stream("GET", self._url, params=params) as response:
            if response.status_code != 200:
                raise _unavailable(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
                raise _unavailable("reply too large")
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise _unavailable("reply too large")
                chunks.append(chunk)
            return b"".join(chunks)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _mapped(errcode: int) -> HuihuaError:
    if errcode in _BAD_CODE:
        return Unauthenticated("code: invalid or already used; call wx.login again")
    if errcode == 45011:
        return RateLimited("code: WeChat limits logins right now; retry in a minute", 60)
    if errcode == 40226:
        return Forbidden("code: WeChat refused the login of this user")
    if errcode in _OUR_CONFIG:
        log.error(
            "wechat: jscode2session refused this server's app id or secret: errcode=%s", errcode
        )
        return InternalError("wechat: the server's login configuration was refused; logged")
    return _unavailable(f"errcode={errcode}")
