"""GET /docs: Swagger UI rendering /openapi.json, every file served by huihua itself.

Swagger UI's files come from the installed ``swagger-ui-bundle-v2`` package (Apache-2.0;
its licence ships with it), the page and its script from ``static/`` beside this module:
nothing is fetched from a CDN, so the page works where the servers have no outside network.
The page is static and needs no credential; with auth on it asks for the service key and
sends it with every call it makes, the description's included (``static/huihua-docs.js``).
Its Content-Security-Policy allows nothing but this server.

Each file is read once, on its first request, and kept with its gzip form.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import swagger_ui_bundle

STATIC = Path(__file__).parent / "static"
SWAGGER = Path(swagger_ui_bundle.swagger_ui_path)
# What /docs/<name> serves: name → (file, content type).
ASSETS = {
    "swagger-ui.css": (SWAGGER / "swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": (SWAGGER / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "favicon-32x32.png": (SWAGGER / "favicon-32x32.png", "image/png"),
    "huihua-docs.js": (STATIC / "huihua-docs.js", "text/javascript; charset=utf-8"),
    "huihua-docs.css": (STATIC / "huihua-docs.css", "text/css; charset=utf-8"),
}
PAGE_TYPE = "text/html; charset=utf-8"
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
HEADERS = {
    "cache-control": "public, max-age=3600",
    "x-content-type-options": "nosniff",
    "content-security-policy": POLICY,
    "referrer-policy": "no-referrer",
}


@dataclass(frozen=True)
class File:
    """A file as served: its bytes, gzipped bytes, and content type."""

    body: bytes
    gzipped: bytes
    media_type: str
    headers: Mapping[str, str] = field(default_factory=lambda: HEADERS)

    def pick(self, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
        """Return the body to send and its headers, gzipped when the client takes it."""
        headers = dict(self.headers, vary="accept-encoding")
        if "gzip" in accept_encoding and len(self.gzipped) < len(self.body):
            headers["content-encoding"] = "gzip"
            return self.gzipped, headers
        return self.body, headers


def file_of(body: bytes, media_type: str, headers: Mapping[str, str] = HEADERS) -> File:
    """Return a file as served, with its gzip form and the headers it is sent with."""
    return File(body, gzip.compress(body, 6, mtime=0), media_type, headers)


@functools.cache
def page(auth: bool) -> File:
    """Return the /docs page; with ``auth`` it asks for the service key first."""
    html = (STATIC / "docs.html").read_text(encoding="utf-8")
    return file_of(html.replace("{auth}", "on" if auth else "off").encode(), PAGE_TYPE)


@functools.cache
def asset(name: str) -> File | None:
    """Return the file /docs/<name> serves, or None for a name it does not serve."""
    found = ASSETS.get(name)
    if found is None:
        return None
    path, media_type = found
    return file_of(path.read_bytes(), media_type)
