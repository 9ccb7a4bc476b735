"""Browsers may not use a local or unprotected huihua behind its operator's back (docs/api.md §6).

A web page the operator happens to open can send requests to ``127.0.0.1:8000``: a
``text/plain`` POST needs no CORS preflight, so the request runs even if the page cannot read
the reply (cross-site request forgery), and a host name the attacker controls can be made to
resolve to 127.0.0.1 after the page loaded, so its reads are same-origin for the browser (DNS
rebinding). Two rules close both, right after the path and method are known (§1 order):

- ``Origin``, when present, must be the request's own (the scheme and the ``Host`` it was
  sent to; ``https`` is taken for its own too, as a TLS proxy in front makes the app see
  ``http``) or one of ``cors_origins``. A mini-program, curl and back ends send none.
- With auth off, ``Host`` must be a loopback name or address, or one of ``allowed_hosts``:
  a rebinding name is neither. With auth on, the credential is what protects the data.

The verdicts are cached per header value (a few distinct values in practice; the cache is
bounded against clients that send many), so the hot path pays a scan of the headers and a
dictionary look-up.
"""

from __future__ import annotations

from starlette.types import Scope

from huihua.config import Settings, is_loopback

CACHE_MAX = 256
FOREIGN_ORIGIN = (
    "origin: a browser page of another site may not call this server "
    "(not its own origin, nor one in HUIHUA_CORS_ORIGINS)"
)
FOREIGN_HOST = (
    "host: auth is off, and this server answers only to a loopback name or address "
    "or one in HUIHUA_ALLOWED_HOSTS"
)


def split_host(value: str) -> tuple[str, str | None]:
    """Return a ``Host`` value (``name``, ``name:port``, ``[v6]:port``) as its lower-case
    name (an IPv6 address without brackets) and its port (None when absent)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, None
        name, rest = value[1:end], value[end + 1 :]
        return name, (rest[1:] if rest.startswith(":") else None)
    name, colon, port = value.partition(":")
    return name.rstrip("."), (port if colon else None)


def allowed_hosts(setting: str) -> frozenset[tuple[str, str | None]]:
    """Return the ``allowed_hosts`` setting as (name, port or None) pairs."""
    return frozenset(split_host(part) for part in setting.split(",") if part.strip())


class BrowserGuard:
    """Answers whether a request is refused by the Origin or the Host rule."""

    def __init__(self, settings: Settings, cors_origins: list[str]) -> None:
        self._origins = frozenset(o.strip().lower().rstrip("/") for o in cors_origins)
        self._check_host = not settings.auth
        self._hosts = allowed_hosts(settings.allowed_hosts)
        self._host_ok: dict[bytes, bool] = {}
        self._origin_ok: dict[tuple[bytes, bytes | None, str], bool] = {}

    def refusal(self, scope: Scope) -> str | None:
        """Return why the request is refused (ok 4), or None when it may go on."""
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
        if self._check_host and host is not None:
            ok = self._host_ok.get(host)
            if ok is None:
                ok = self._remember(self._host_ok, host, self._host_allowed(host))
            if not ok:
                return FOREIGN_HOST
        if origin is not None:
            key = (origin, host, scope.get("scheme", "http"))
            ok = self._origin_ok.get(key)
            if ok is None:
                ok = self._remember(self._origin_ok, key, self._origin_allowed(*key))
            if not ok:
                return FOREIGN_ORIGIN
        return None

    def _host_allowed(self, host: bytes) -> bool:
        name, port = split_host(host.decode("latin-1"))
        return is_loopback(name) or (name, port) in self._hosts or (name, None) in self._hosts

    def _origin_allowed(self, origin: bytes, host: bytes | None, scheme: str) -> bool:
        text = origin.decode("latin-1").strip().lower()
        if text in self._origins:
            return True
        own_scheme, sep, rest = text.partition("://")
        if not sep or host is None or own_scheme not in (scheme, "https"):
            return False
        return rest == host.decode("latin-1").strip().lower()

    @staticmethod
    def _remember(cache: dict, key: object, ok: bool) -> bool:  # type: ignore[type-arg]
        if len(cache) >= CACHE_MAX:
            cache.clear()
        cache[key] = ok
        return ok
