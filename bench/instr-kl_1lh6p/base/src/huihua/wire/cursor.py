"""The session list's cursor: an opaque token for a keyset position (updated_at, session_id)."""

from __future__ import annotations

import base64
import binascii

from huihua.wire.rules import SESSION_ID_CHARS, SESSION_ID_MAX, TIMESTAMP_MAX


def encode_cursor(updated_at: int, session_id: str) -> str:
    """Return the opaque cursor for the keyset position after this row."""
    return base64.urlsafe_b64encode(f"{updated_at}.{session_id}".encode()).decode().rstrip("=")


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
