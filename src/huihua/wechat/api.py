"""WeChat's token-bearing server API: ``POST path?access_token=…`` with a JSON body.

Failures, drawn as the two exceptions callers see::

    unreachable, timeout, HTTP ≠ 200, not JSON, too big, no token   → Unreachable
    errcode ≠ 0 (after one retry with a new token on 40001/40014/42001) → Refused

The request URL holds the access token: it is never logged (httpx's request log is held at
WARNING), and failures are logged by kind and ``errcode`` alone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import msgspec

from huihua import __version__
from huihua.config import Settings
from huihua.wechat.token import AccessToken

log = logging.getLogger("huihua.wechat")

MAX_REPLY_BYTES = 65_536  # a check's reply with its details is about 1 KiB
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class Unreachable(Exception):
    """WeChat did not answer usably; the message says how (never a secret)."""


class Refused(Exception):
    """WeChat answered with an ``errcode`` other than 0."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode {errcode}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatApi:
    """A pooled client of WeChat's server API, with the app's shared access token."""

    def __init__(self, settings: Settings) -> None:
        for name in ("httpx", "httpcore"):  # their request lines carry the token
            logging.getLogger(name).setLevel(logging.WARNING)
        self._base = settings.wechat_api_base.rstrip("/")
        self._timeout = settings.wechat_timeout_ms / 1000
        self._client = httpx.AsyncClient(
            verify=True,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self._timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            headers={"user-agent": f"huihua/{__version__}"},
        )
        self._appid = settings.wechat_appid
        self._secret = settings.wechat_secret
        self.token = AccessToken(self._fetch_token, settings.redis_url, settings.wechat_appid)

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Return WeChat's reply to ``body`` at ``path``; a token WeChat calls invalid or
        expired is renewed and the call made once more. Raise Unreachable or Refused."""
        token = await self.token.get()
        reply = await self._post(path, body, token)
        errcode = _errcode(reply)
        if errcode in TOKEN_ERRORS:
            log.info("wechat: %s: the access token was refused (%s); renewing it", path, errcode)
            token = await self.token.renew(token)
            reply = await self._post(path, body, token)
            errcode = _errcode(reply)
        if errcode != 0:
            errmsg = reply.get("errmsg")
            raise Refused(errcode, errmsg if isinstance(errmsg, str) else "")
        return reply

    async def _fetch_token(self) -> tuple[str, int]:
        """Return a token and its life in seconds from ``stable_token`` (normal mode: the
        token every host shares; ``force_refresh`` would break theirs, so never)."""
        body = {
            "grant_type": "client_credential",
            "appid": self._appid,
            "secret": self._secret,
            "force_refresh": False,
        }
        reply = await self._post("/cgi-bin/stable_token", body, None)
        errcode = _errcode(reply)
        if errcode != 0:
            # 40013 / 40125 / 40164 (appid, secret, IP not allowed) are the operator's to fix.
            log.error("wechat: stable_token refused this server: errcode=%s", errcode)
            raise Unreachable(f"stable_token errcode {errcode}")
        token, life = reply.get("access_token"), reply.get("expires_in")
        if not isinstance(token, str) or not token or len(token) > 1024:
            raise Unreachable("stable_token: no usable access_token")
        if not isinstance(life, int) or life < 1:
            raise Unreachable("stable_token: no usable expires_in")
        return token, life

    async def _post(self, path: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        params = {"access_token": token} if token is not None else None
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._send(path, params, _encode(body))
        except TimeoutError:
            raise _unreachable(path, "timed out") from None
        except httpx.HTTPError as error:
            raise _unreachable(path, type(error).__name__) from None
        try:
            reply = _decode(raw)
        except msgspec.DecodeError:
            raise _unreachable(path, "reply is not JSON") from None
        if not isinstance(reply, dict):
            raise _unreachable(path, "reply is not a JSON object")
        return reply

    async def _send(self, path: str, params: dict[str, str] | None, content: bytes) -> bytes:
        headers = {"content-type": "application/json"}
        async with self._client.stream(
            "POST", self._base + path, params=params, content=content, headers=headers
        ) as response:
            if response.status_code != 200:
                raise _unreachable(path, f"HTTP {response.status_code}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise _unreachable(path, "reply too large")
                chunks.append(chunk)
            return b"".join(chunks)

    async def aclose(self) -> None:
        """Close the connection pool and the token's Redis connection."""
        await self._client.aclose()
        await self.token.aclose()


def _errcode(reply: dict[str, Any]) -> int:
    errcode = reply.get("errcode") or 0  # some successes leave it out
    if not isinstance(errcode, int):
        raise Unreachable("errcode is not a number")
    return errcode


def _unreachable(path: str, why: str) -> Unreachable:
    log.warning("wechat: %s failed: %s", path, why)
    return Unreachable(why)
