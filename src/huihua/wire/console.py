"""The operator's routes (docs/api.md §9): their rules and cursors (their requests and replies
are in requests.py and replies.py).

``/list_users`` pages by ``(created_at, user_id)``, its cursor ``u<created_at>.<user_id>``;
``/list_feedback`` by ``(rated_at, user_id, session_id, seq)``, its cursor
``f<rated_at>.<seq>.<length of session_id>.<session_id><user_id>`` (both ids may hold
dots). Both
are sent base64url encoded without padding, as the session list's.
"""

from __future__ import annotations

import calendar
import re
from typing import Any

from huihua.wire.cursor import decode_text, encode_text, page
from huihua.wire.parse import Parsed
from huihua.wire.rules import (
    CONTROL_CHARS,
    SEQ_MAX,
    SESSION_ID_CHARS,
    SESSION_ID_MAX,
    TIMESTAMP_MAX,
    USER_ID_MAX,
)

CONSOLE_LIMIT_DEFAULT, CONSOLE_LIMIT_MAX = 20, 100
USERS_QUERY_MAX = USER_ID_MAX
DAYS_DEFAULT, DAYS_MAX = 30, 366
# A timestamp as the API writes it (RFC 3339 UTC, from 1970); the milliseconds may be left
# out. A day past its month's end counts on into the next (2026-02-30 is 2026-03-02).
STAMP_PATTERN = (
    r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(?:\.([0-9]{1,3}))?Z$"
)
_STAMP = re.compile(STAMP_PATTERN)


# -- cursors ----------------------------------------------------------------------------


def _stamp(digits: str) -> int | None:
    if not (digits.isascii() and digits.isdigit()) or len(digits) > len(str(TIMESTAMP_MAX)):
        return None
    value = int(digits)
    return value if value < TIMESTAMP_MAX else None


def _user_id(text: str) -> bool:
    return 0 < len(text) <= USER_ID_MAX and not CONTROL_CHARS.search(text)


def encode_users_cursor(created_at: int, user_id: str) -> str:
    """Return the cursor of the position after this user."""
    return encode_text(f"u{created_at}.{user_id}")


def decode_users_cursor(cursor: str) -> tuple[int, str] | None:
    """Return the (created_at, user_id) a /list_users cursor names, or None."""
    text = decode_text(cursor)
    if text is None or not text.startswith("u"):
        return None
    stamp, _, user_id = text[1:].partition(".")
    at = _stamp(stamp)
    if at is None or not _user_id(user_id):
        return None
    return at, user_id


def encode_feedback_cursor(rated_at: int, user_id: str, session_id: str, seq: int) -> str:
    """Return the cursor of the position after this rated reply."""
    return encode_text(f"f{rated_at}.{seq}.{len(session_id)}.{session_id}{user_id}")


def decode_feedback_cursor(cursor: str) -> tuple[int, str, str, int] | None:
    """Return the (rated_at, user_id, session_id, seq) a /list_feedback cursor names."""
    text = decode_text(cursor)
    if text is None or not text.startswith("f"):
        return None
    parts = text[1:].split(".", 3)
    if len(parts) != 4:
        return None
    at, seq, chars = _stamp(parts[0]), _stamp(parts[1]), _stamp(parts[2])
    if at is None or seq is None or chars is None or not 0 < seq <= SEQ_MAX:
        return None
    session_id, user_id = parts[3][:chars], parts[3][chars:]
    if not 0 < len(session_id) <= SESSION_ID_MAX or not SESSION_ID_CHARS.fullmatch(session_id):
        return None
    if len(session_id) != chars or not _user_id(user_id):
        return None
    return at, user_id, session_id, seq


# -- rules ------------------------------------------------------------------------------


def parse_timestamp(text: str) -> int | None:
    """Return an RFC 3339 UTC timestamp (as ``created_at`` writes it) in ms, or None."""
    found = _STAMP.fullmatch(text)
    if found is None:
        return None
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    millis = int((found.group(7) or "0").ljust(3, "0"))
    seconds = calendar.timegm((year, month, 1, hour, minute, second, 0, 0, 0))
    return (seconds + (day - 1) * 86_400) * 1000 + millis


def check_list_users(parsed: Parsed) -> tuple[str | None, int, tuple[int, str] | None]:
    """Return /list_users' query (None: every user), page size and keyset position."""
    req = parsed.fields()
    c = parsed.checker()
    if req.query is not None:
        c.text("query", req.query, USERS_QUERY_MAX)
    limit, after = page(c, req, CONSOLE_LIMIT_DEFAULT, CONSOLE_LIMIT_MAX, decode_users_cursor)
    c.done()
    return req.query or None, limit, after


def check_list_feedback(parsed: Parsed) -> tuple[Any, int | None, int, Any]:
    """Return /list_feedback's request, its ``since`` in ms, page size and position."""
    req = parsed.fields()
    c = parsed.checker()
    since = None
    if req.since is not None:
        since = parse_timestamp(req.since)
        if since is None:
            c.bad(
                "since: must be a UTC timestamp as created_at is written (2026-11-24T14:15:46.123Z)"
            )
    limit, after = page(c, req, CONSOLE_LIMIT_DEFAULT, CONSOLE_LIMIT_MAX, decode_feedback_cursor)
    c.done()
    return req, since, limit, after


def check_usage_stats(parsed: Parsed) -> int:
    """Return how many days /usage_stats covers."""
    req = parsed.fields()
    c = parsed.checker()
    days = DAYS_DEFAULT if req.days is None else req.days
    c.number("days", days, 1, DAYS_MAX)
    c.done()
    return days
