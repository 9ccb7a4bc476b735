"""GET /console: the operator's console (docs/api.md §9), a page served by huihua itself.

Its files are in ``console/`` beside this module: the page, its script and its style,
written by hand (no library, no build step). Nothing is loaded from elsewhere; the one
exception the contract makes is a message's ``https:`` image, shown from its own address
(``img-src https:``). The page is static and needs no credential: it asks for the service
key before it loads anything, keeps it in ``sessionStorage`` and sends it as
``Authorization`` (no cookie: nothing for another site to ride on). With auth off it asks
for none (``data-auth``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from huihua.http.docs import PAGE_TYPE, File, file_of

FILES = Path(__file__).parent / "console"
ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
HEADERS = {
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "content-security-policy": POLICY,
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@functools.cache
def page(auth: bool) -> File:
    """Return the /console page; with ``auth`` it asks for the service key first."""
    html = (FILES / "index.html").read_text(encoding="utf-8")
    return file_of(html.replace("{auth}", "on" if auth else "off").encode(), PAGE_TYPE, HEADERS)


@functools.cache
def asset(name: str) -> File | None:
    """Return the file /console/<name> serves, or None for a name it does not serve."""
    media_type = ASSETS.get(name)
    if media_type is None:
        return None
    return file_of((FILES / name).read_bytes(), media_type, HEADERS)
