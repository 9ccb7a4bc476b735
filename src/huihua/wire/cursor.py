"""The cursors: opaque tokens for a keyset position — the session list's (updated_at,
session_id), a search's (created_at, session_id, seq)."""

from __future__ import annotations

import base64
import binascii

from huihua.wire.rules import SEQ_MAX, SESSION_ID_CHARS, SESSION_ID_MAX, TIMESTAMP_MAX


def encode_cursor(updated_at: int, session_id: str) -> str:
    """Return the opaque cursor for the keyset position after this row."""
    return base64.urlsafe_b64encode(f"{updated_at}.{session_id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> str | None:
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
    text = _decode(cursor)
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


def decode_cursor(cursor: str) -> tuple[int, str] | None:
    """Return the (updated_at, session_id) a cursor names, or None when it is not one."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, session_id = text.split(".", 1)
        updated_at = int(stamp)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not (0 <= updated_at < TIMESTAMP_MAX) or not session_id:
        return None
    if not SESSION_ID_CHARS.fullmatch(session_id) or len(session_id) > SESSION_ID_MAX:
        return None
    return updated_at, session_id
