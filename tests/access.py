"""Helpers for the tests of the access model: send with a chosen credential, log in."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from sqlalchemy import create_engine, text

from huihua.access.tokens import ALGORITHM, AUDIENCE, Tokens
from huihua.store.engine import store_kind

from . import sse
from .conftest import TOKEN_SECRET
from .helpers import STATUS

if TYPE_CHECKING:
    from .conftest import Api

NONE = object()  # send no Authorization header at all


def send(
    api: Api,
    path: str,
    body: Any = None,
    credential: Any = NONE,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send ``body`` to ``path`` with ``Bearer <credential>``, or with no credential (NONE)."""
    request = api.http.build_request(method, path, json=body, headers=headers)
    if credential is NONE:
        request.headers.pop("authorization", None)
    else:
        request.headers["authorization"] = f"Bearer {credential}"
    return api.http.send(request)


def answer(response: httpx.Response) -> int:
    """Return the ok code of a reply (a 200 that is not the envelope counts as 0), after
    checking its status matches and that it is never cached."""
    assert response.headers.get("cache-control") == "no-store", response.headers
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        body = sse.parse(response.text)[0].data  # a reply's stream: its start (§8.2)
    else:
        body = response.json()
    code = body.get("ok", 0) if isinstance(body, dict) else 0
    assert response.status_code == STATUS[code], (response.status_code, body)
    if code == 3:
        assert response.headers.get("www-authenticate", "").startswith("Bearer")
    return code


def new_openid() -> str:
    return f"o{uuid.uuid4().hex}"


def code_for(openid: str) -> str:
    """Return a new wx.login code the fake WeChat answers with ``openid``."""
    return f"ok-{openid}~{uuid.uuid4().hex[:8]}"


def login(api: Api, openid: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Log ``openid`` (a new one by default) in with a fresh code; return the reply."""
    openid = openid or new_openid()
    reply = send(api, "/login", {"code": code_for(openid)}, **kwargs).json()
    assert reply["ok"] == 0, reply
    assert reply["user_id"] == openid
    return reply


def claims_of(token: str) -> dict[str, Any]:
    """Return a token's claims, unverified (to forge variants of them)."""
    return jwt.decode(token, options={"verify_signature": False})


def signed(claims: dict[str, Any], secret: str = TOKEN_SECRET, **header: Any) -> str:
    """Return ``claims`` signed as huihua signs tokens, but with any claims at all."""
    key = Tokens(secret)._key
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers=header or None)


def expired_token(token: str) -> str:
    """Return the token with the same claims, signed right, but expired a minute ago."""
    now = int(time.time())
    return signed(claims_of(token) | {"iat": now - 3600, "exp": now - 60})


def forged_token(user_id: str) -> str:
    """Return a token for ``user_id`` signed with a key that is not the server's."""
    now = int(time.time())
    claims = {"sub": user_id, "aud": AUDIENCE, "iat": now, "exp": now + 3600, "tn": "x" * 32}
    return signed(claims, secret="not-the-server-secret-" + "z" * 32)


def sql(api: Api, statement: str, **params: Any) -> list[Any]:
    """Run SQL on the server's database directly; return the rows (none for a write)."""
    engine = create_engine(store_kind(api.settings.database_url).url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()
