"""The rules of the contract's fields (docs/api.md §2) that msgspec's types cannot say.

:class:`Checker` collects the first ok-1 problem (missing, wrong type, out of range,
forbidden character) and the first ok-6 problem (a string or object over its limit) of a
request; ok 1 wins when both occur. :class:`Limits` holds the limits a server sets.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

import msgspec

from huihua.errors import InvalidRequest, TooLarge

USER_ID_MAX = 128
SESSION_ID_MAX = 64
REQUEST_ID_MAX = 128
USER_NAME_MAX = 64
PHONE_MAX = 32
EMAIL_MAX = 254
SESSION_TITLE_MAX = 100
SESSIONS_LIMIT_DEFAULT, SESSIONS_LIMIT_MAX = 100, 1000
SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX = 20, 100
QUERY_MAX = 100  # /search_chats
SNIPPET_MAX = 120
CHATS_LIMIT_DEFAULT, CHATS_LIMIT_MAX = 1000, 1000
SEQ_MAX = 2**31 - 1
CHATS_PER_CALL_MAX = 100  # /add_chats
PARTS_MAX, PART_URL_MAX, PART_MIME_MAX, PART_NAME_MAX = 16, 2_048, 128, 256
PART_NUMBER_MAX = 2**53 - 1  # sizes and durations: what a JSON client holds exactly
TOOL_CALLS_MAX, TOOL_ID_MAX, TOOL_NAME_MAX = 32, 128, 128
PART_SCHEMES = ("https:", "cloud://")  # references only: huihua never keeps file bytes
# The contract's enumerations (docs/api.md §5.1): the types the request structs declare,
# and their values by field name (what a wrong value's ok 1 lists).
Role = Literal["user", "ai", "system", "tool"]
Status = Literal["complete", "streaming", "failed", "cancelled"]
PartType = Literal["image", "audio", "video", "file"]
Rating = Literal["like", "dislike", ""]  # "" takes a rating back
ROLES: tuple[str, ...] = get_args(Role)
STATUSES: tuple[str, ...] = get_args(Status)
# What a stored message may have besides: "blocked" is written by huihua only (§8.6).
STATUSES_OUT = (*STATUSES, "blocked")
PART_TYPES: tuple[str, ...] = get_args(PartType)
RATINGS: tuple[str, ...] = get_args(Rating)
COMMENT_MAX = 1_000
ENUMS = {"role": ROLES, "status": STATUSES, "type": PART_TYPES, "rating": RATINGS}
TIMESTAMP_MAX = 2**53
MAX_DEPTH = 32  # JSON nesting: the top-level object is depth 1

# Names a further profile field may not take: the envelope's, the id's, the server's own.
RESERVED_PROFILE_FIELDS = frozenset(
    {"request_id", "ok", "failed", "user_id", "created", "created_at", "updated_at"}
)

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SESSION_ID_CHARS = re.compile(r"[A-Za-z0-9_.:-]*")
_encode = msgspec.json.Encoder().encode
NUL_ESCAPE = b"\\u0000"  # how msgspec writes U+0000 in JSON (or an escaped backslash's tail)


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """The limits a server sets (its settings), in characters or bytes of JSON."""

    max_msg_chars: int = 65_536
    max_meta_bytes: int = 8_192
    max_profile_bytes: int = 8_192
    models: tuple[str, ...] = ()  # /ask_ai's model: one of these


class Checker:
    """Collects the first ok-1 and the first ok-6 problem; ok 1 wins when both occur."""

    __slots__ = ("big", "invalid")

    def __init__(self) -> None:
        self.invalid: str | None = None
        self.big: str | None = None

    def bad(self, text: str) -> None:
        if self.invalid is None:
            self.invalid = text

    def large(self, text: str) -> None:
        if self.big is None:
            self.big = text

    def done(self) -> None:
        """Raise the error that answers, if any."""
        if self.invalid is not None:
            raise InvalidRequest(self.invalid)
        if self.big is not None:
            raise TooLarge(self.big)

    # -- rules ---------------------------------------------------------------------------

    def user_id(self, value: str) -> None:
        if value == "":
            self.bad("user_id: must not be empty")
        elif CONTROL_CHARS.search(value):
            self.bad("user_id: must not contain control characters")
        elif len(value) > USER_ID_MAX:
            self.large(f"user_id: must be at most {USER_ID_MAX} characters")

    def session_id(self, value: str) -> None:
        if value == "":
            self.bad("session_id: must not be empty")
        elif not SESSION_ID_CHARS.fullmatch(value):
            self.bad("session_id: may contain only A-Z, a-z, 0-9, '_', '.', ':' and '-'")
        elif len(value) > SESSION_ID_MAX:
            self.large(f"session_id: must be at most {SESSION_ID_MAX} characters")

    def text(self, name: str, value: str, most: int, *, empty: bool = True) -> None:
        if not empty and value == "":
            self.bad(f"{name}: must not be empty")
        elif "\x00" in value:
            self.bad(f"{name}: must not contain U+0000")
        elif len(value) > most:
            self.large(f"{name}: must be at most {most} characters")

    def json_object(self, name: str, value: dict[str, Any], most_bytes: int) -> bytes:
        """Return ``value`` as compact JSON, after checking it for U+0000 and size."""
        encoded = _encode(value)
        if NUL_ESCAPE in encoded and has_nul(value):  # C speed for the usual case: none
            self.bad(f"{name}: must not contain U+0000")
        if len(encoded) > most_bytes:
            self.large(f"{name}: must be at most {most_bytes} bytes as JSON")
        return encoded

    def number(self, name: str, value: int, least: int, most: int) -> None:
        if value < least:
            self.bad(f"{name}: must be at least {least}")
        elif value > most:
            self.bad(f"{name}: must be at most {most}")


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False
