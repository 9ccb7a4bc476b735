"""User tokens: JWTs signed with HS256 under a key derived from ``token_secret``.

A token has a fixed audience, an expiry, the user as ``sub`` and the user's token nonce as
``tn``; credentials.py checks that nonce against the user's row on every request.
"""

from __future__ import annotations

import hashlib
import hmac

import jwt

from huihua.errors import Unauthenticated
from huihua.wire.rules import CONTROL_CHARS, USER_ID_MAX

AUDIENCE = "huihua"
ALGORITHM = "HS256"
INVALID = "authorization: not a valid credential"
EXPIRED = "authorization: the token has expired; log in again"


class Tokens:
    """Signs and verifies user tokens (JWT, HS256 only, fixed audience)."""

    def __init__(self, secret: str) -> None:
        # A derived key: always 32 bytes however long the secret, and the secret itself
        # is never an HMAC key of anything the server sends.
        self._key = hmac.new(secret.encode(), b"huihua user token v1", hashlib.sha256).digest()

    def sign(self, user_id: str, nonce: str, issued_at: int, expires_at: int) -> str:
        """Return the token for these claims (the same claims give the same token)."""
        claims = {"sub": user_id, "aud": AUDIENCE, "iat": issued_at, "exp": expires_at, "tn": nonce}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> tuple[str, str]:
        """Return (user_id, nonce) of a token whose signature, audience and expiry hold."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["exp", "aud", "sub", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(EXPIRED) from None
        except jwt.PyJWTError:
            raise Unauthenticated(INVALID) from None
        user_id, nonce = claims.get("sub"), claims.get("tn")
        if not isinstance(user_id, str) or not isinstance(nonce, str):
            raise Unauthenticated(INVALID)
        if not user_id or len(user_id) > USER_ID_MAX or CONTROL_CHARS.search(user_id):
            raise Unauthenticated(INVALID)
        return user_id, nonce
