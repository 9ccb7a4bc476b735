"""Credentials: who is calling, and what they may do (docs/api.md §6).

Auth is on as soon as a service key is set. Then every request carries
``Authorization: Bearer <credential>``, one of:

- the service key (the app's back end): every endpoint, for any user; compared in
  constant time;
- a user token (the mini-program), which ``/login`` hands out: a JWT signed with HS256
  under a key derived from ``token_secret``, with a fixed audience, an expiry, the user as
  ``sub`` and the user's token nonce as ``tn``. The nonce must still be the one on the
  user's row, checked on every request: deleting the user kills every token they had,
  for good, since a user made again gets a new nonce.

:class:`Access` admits a request in the order of docs/api.md §1 — the credential (ok 3), then
the rate limits (ok 7) — and hands the handler a :class:`Principal`, which answers ok 4
once the fields are checked when the request is not for the caller to make. ``/login``
(``Endpoint.public``) needs no credential: it is how a mini-program gets one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import msgspec

from huihua.access.ratelimit import Bucket, Limiter
from huihua.access.tokens import INVALID, Tokens
from huihua.config import Settings
from huihua.errors import Forbidden, RateLimited, Unauthenticated
from huihua.wire.parse import Parsed, parse_body

Scope = MutableMapping[str, Any]  # an ASGI connection scope (Starlette's type)
NonceLookup = Callable[[str], Awaitable[str | None]]

CREDENTIAL_MAX = 4096
USER_HASH_CHARS = 20
_encode = msgspec.json.Encoder().encode

MISSING = "authorization: a Bearer credential is required"
MALFORMED = "authorization: must be 'Bearer <credential>'"
REVOKED = "authorization: the token is no longer valid; log in again"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is from: ``open`` (auth off), ``service``, ``user`` or ``anonymous``
    (no credential, on /login only). ``log_name`` is what the access log shows."""

    kind: str
    user_id: str | None = None
    log_name: str = "-"
    # Auth off: whether the request came from this machine (asked on the operator's routes).
    local: bool = True

    def check(self, user_id: str | None, *, backend_only: str | None = None) -> None:
        """Raise Forbidden (ok 4) when this caller may not make this request for ``user_id``.

        ``backend_only``: the request is one only the back end (the service key) may make;
        the reason to give.
        """
        if self.kind != "user":
            return
        if backend_only is not None:
            raise Forbidden(backend_only)
        if user_id != self.user_id:
            raise Forbidden("user_id: this token is for another user")

    def check_operator(self) -> None:
        """Raise Forbidden (ok 4) unless this caller may use the operator's routes (docs/api.md
        §9): the service key, or with auth off a request from this machine."""
        if self.kind == "user":
            raise Forbidden(OPERATOR_ONLY)
        if not self.local:
            raise Forbidden(OPERATOR_LOOPBACK)


OPERATOR_ONLY = "authorization: the operator's routes need the service key"
OPERATOR_LOOPBACK = (
    "authorization: auth is off, so the operator's routes answer requests from this machine only"
)
OPEN = Principal("open", log_name="open")
OPEN_REMOTE = Principal("open", log_name="open", local=False)
SERVICE = Principal("service", log_name="service")
ANONYMOUS = Principal("anonymous", log_name="anonymous")


class Access:
    """Admits requests: credential, then rate limits; see the module docstring."""

    def __init__(self, settings: Settings, token_nonce: NonceLookup, limiter: Limiter) -> None:
        """``token_nonce(user_id)``: the user's current token nonce, None when there is no
        such user; how access reaches stored data (it imports no service or store)."""
        self.on = settings.auth
        self._token_nonce = token_nonce
        self._limiter = limiter
        self._service = _digest(settings.service_key) if settings.service_key else None
        self.tokens = Tokens(settings.token_secret) if settings.token_secret else None
        self._user_limit = settings.rate_limit_user
        self._address_limit = settings.rate_limit_address
        self._proxies = settings.proxy_networks()
        # Keyed hash of user ids for logs and limiter keys; random when there is no secret.
        secret = settings.token_secret or settings.service_key
        seed = secret.encode() if secret else os.urandom(32)
        self._hash_key = hmac.new(seed, b"huihua user id hash v1", hashlib.sha256).digest()

    def user_hash(self, user_id: str) -> str:
        """Return the keyed hash that stands for a user id in logs and limiter keys."""
        mac = hmac.new(self._hash_key, user_id.encode(), hashlib.sha256)
        return mac.hexdigest()[:USER_HASH_CHARS]

    async def admit(self, scope: Scope, parsed: Parsed, spec: Any) -> tuple[Principal, Parsed]:
        """Return who the request is from and its body (an absent ``user_id`` filled in from
        a user token); raise ok 3 for a bad credential, ok 7 over a rate limit.

        ``spec`` is the endpoint (huihua.http.endpoint.Endpoint): its request schema,
        whether the body was decoded into it (``strict``), and whether it needs no
        credential (``public``).
        """
        if not self.on:
            if spec.operator and not _from_this_machine(scope):
                return OPEN_REMOTE, parsed
            return OPEN, parsed
        if spec.public and not _headers(scope, b"authorization"):
            who = ANONYMOUS
        else:
            who = await self.principal(scope)
        if who.kind == "user" and "user_id" in spec.request.__struct_fields__:
            parsed = _with_user_id(parsed, who.user_id, spec.request if spec.strict else None)
        await self._limit(scope, who, parsed)
        return who, parsed

    async def principal(self, scope: Scope) -> Principal:
        """Return the principal of the request's credential; raise ok 3 without a good one."""
        values = _headers(scope, b"authorization")
        if not values:
            raise Unauthenticated(MISSING)
        scheme, _, credential = values[0].partition(" ")
        credential = credential.strip()
        if (
            len(values) > 1
            or scheme.lower() != "bearer"
            or not credential
            or len(credential) > CREDENTIAL_MAX
            or " " in credential
        ):
            raise Unauthenticated(MALFORMED)
        if self._service is not None and hmac.compare_digest(_digest(credential), self._service):
            return SERVICE
        if self.tokens is None:
            raise Unauthenticated(INVALID)
        user_id, nonce = self.tokens.verify(credential)
        current = await self._token_nonce(user_id)
        if current is None or not hmac.compare_digest(current.encode(), nonce.encode()):
            raise Unauthenticated(REVOKED)
        return Principal("user", user_id, "user:" + self.user_hash(user_id))

    async def require_service(self, scope: Scope) -> None:
        """Raise ok 3 without a good credential, ok 4 for one that is not the service key
        (auth off: anyone passes)."""
        if not self.on:
            return
        if (await self.principal(scope)).kind != "service":
            raise Forbidden("authorization: needs the service key")

    async def _limit(self, scope: Scope, who: Principal, parsed: Parsed) -> None:
        buckets: list[Bucket] = []
        if self._user_limit:
            user_id = who.user_id if who.kind == "user" else _body_user_id(parsed)
            if user_id:
                buckets.append(("huihua:rl:u:" + self.user_hash(user_id), self._user_limit))
        if self._address_limit and who.kind != "service":
            address = self.client_address(scope)
            if address:
                buckets.append(("huihua:rl:a:" + address, self._address_limit))
        if not buckets:
            return
        wait = await self._limiter.take(buckets)
        if wait > 0:
            seconds = max(1, int(-(-wait // 1)))
            raise RateLimited(f"rate limit: too many requests; retry in {seconds} s", seconds)

    def client_address(self, scope: Scope) -> str | None:
        """Return the client's address for the per-address limit (IPv6: its /64).

        X-Forwarded-For is believed only from a trusted proxy, and only as far back as the
        chain of trusted proxies goes.
        """
        client = scope.get("client")
        peer = client[0] if client else None
        address = _ip(peer)
        if address is None:
            return peer
        if self._proxies and self._trusted(address):
            hops = [h.strip() for v in _headers(scope, b"x-forwarded-for") for h in v.split(",")]
            for hop in reversed(hops):
                hop_address = _ip(hop)
                if hop_address is None:
                    break
                address = hop_address
                if not self._trusted(address):
                    break
        if address.version == 6:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    def _trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self._proxies)


def _headers(scope: Scope, name: bytes) -> list[str]:
    """Return the values of a header (ASGI names are lower case)."""
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


def _from_this_machine(scope: Scope) -> bool:
    """Return whether the request's peer is a loopback address, and every address a proxy
    says it forwarded for is one too."""
    client = scope.get("client")
    peer = _ip(client[0] if client else None)
    if peer is None or not peer.is_loopback or _headers(scope, b"forwarded"):
        return False
    hops = [h for v in _headers(scope, b"x-forwarded-for") for h in v.split(",")]
    return all((hop := _ip(h.strip())) is not None and hop.is_loopback for h in hops)


def _digest(value: str) -> bytes:
    # Compare digests: constant time whatever the lengths.
    return hashlib.sha256(value.encode()).digest()


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _body_user_id(parsed: Parsed) -> str | None:
    data = parsed.data
    user_id = data.get("user_id") if isinstance(data, dict) else getattr(data, "user_id", None)
    return user_id if isinstance(user_id, str) else None


def _with_user_id(parsed: Parsed, user_id: str | None, request_type: type | None) -> Parsed:
    """Return the body with ``user_id`` set from the token when the caller left it out."""
    data = parsed.data
    if not isinstance(data, dict) or "user_id" in data:
        return parsed  # a body decoded into its struct always has its user_id
    filled = parse_body(_encode({**data, "user_id": user_id}), request_type)
    filled.request_id = parsed.request_id
    return filled
