"""The session list's cursor: an opaque token for a keyset position in the list.

The list has two phases (docs/api.md §5.4): the pinned sessions, by ``(pinned_at, session_id)``,
then the others, by ``(updated_at, session_id)``. A position in the second phase is
``<updated_at>.<session_id>``, as it was before sessions could be pinned (so cursors given
then stay valid); one in the first is ``p<pinned_at>.<session_id>``. Both are sent base64url
encoded, without padding.

A search's cursor (/search_chats) is ``m<created_at>.<seq>.<session_id>``, a position in
the walk by ``(created_at, session_id, seq)``, newest first.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, NamedTuple

from huihua.wire.rules import SEQ_MAX, SESSION_ID_CHARS, SESSION_ID_MAX, TIMESTAMP_MAX

_PINNED = "p"
_DIGITS_MAX = len(str(TIMESTAMP_MAX))


class Position(NamedTuple):
    """A row's place in the list: its phase, the time it is ordered by in that phase
    (``pinned_at`` when pinned, else ``updated_at``), and its session_id."""

    pinned: bool
    at: int
    session_id: str


def encode_cursor(at: int, session_id: str, *, pinned: bool = False) -> str:
    """Return the opaque cursor for the keyset position after this row."""
    return encode_text(f"{_PINNED if pinned else ''}{at}.{session_id}")


def encode_text(text: str) -> str:
    """Return ``text`` as an opaque cursor (URL-safe base64, unpadded)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_text(cursor: str) -> str | None:
    """Return the text of a cursor ``encode_text`` made; None if it is none."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _session_id(text: str) -> bool:
    return bool(text) and len(text) <= SESSION_ID_MAX and bool(SESSION_ID_CHARS.fullmatch(text))


def encode_search_cursor(created_at: int, session_id: str, seq: int) -> str:
    """Return the opaque cursor for the position after this search result."""
    text = f"m{created_at}.{seq}.{session_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_search_cursor(cursor: str) -> tuple[int, str, int] | None:
    """Return the (created_at, session_id, seq) a search cursor names, or None."""
    text = decode_text(cursor)
    if text is None or not text.startswith("m"):
        return None
    try:
        stamp, seq_text, session_id = text[1:].split(".", 2)
        created_at, seq = int(stamp), int(seq_text)
    except ValueError:
        return None
    if not (0 <= created_at < TIMESTAMP_MAX and 0 < seq <= SEQ_MAX) or not _session_id(session_id):
        return None
    return created_at, session_id, seq


def decode_cursor(cursor: str) -> Position | None:
    """Return the position a cursor names, or None when it is not one this server gives."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, session_id = text.split(".", 1)
        pinned = stamp.startswith(_PINNED)
        digits = stamp[1:] if pinned else stamp
        if not (digits.isascii() and digits.isdigit()) or len(digits) > _DIGITS_MAX:
            return None
        at = int(digits)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if at >= TIMESTAMP_MAX or not session_id:
        return None
    if not SESSION_ID_CHARS.fullmatch(session_id) or len(session_id) > SESSION_ID_MAX:
        return None
    return Position(pinned, at, session_id)


def page(c: Any, req: Any, default: int, most: int, decode: Any) -> tuple[int, Any]:
    """Check a paged request's ``limit`` and ``cursor`` (``c`` a checks.Checker); return
    the page size and the position the cursor names (None: the first page)."""
    limit = default if req.limit is None else req.limit
    c.number("limit", limit, 1, most)
    after = None
    if req.cursor:
        after = decode(req.cursor)
        if after is None:
            c.bad("cursor: is not a cursor this server gave")
    return limit, after
