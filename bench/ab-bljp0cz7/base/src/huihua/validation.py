"""Turning a request body into a checked request, with the error API.md §1 says comes first.

Decoding happens in two steps so the order of §1 holds: :func:`parse_body` answers for a
body that is not JSON or not an object (ok 1) and finds the ``request_id`` to echo; the field
errors it found are raised only by :meth:`Parsed.fields`, after the credential checks. Within
the fields, every ok 1 (missing, wrong type, out of range, forbidden character) beats every
ok 6 (a string or object over its limit).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, TypeVar

import msgspec

from huihua.config import Settings
from huihua.errors import InvalidRequest, TooLarge
from huihua.ids import new_id
from huihua.schemas import Request

USER_ID_MAX = 128
SESSION_ID_MAX = 64
REQUEST_ID_MAX = 128
USER_NAME_MAX = 64
PHONE_MAX = 32
EMAIL_MAX = 254
SESSION_TITLE_MAX = 100
SESSIONS_LIMIT_DEFAULT, SESSIONS_LIMIT_MAX = 100, 1000
CHATS_LIMIT_DEFAULT, CHATS_LIMIT_MAX = 1000, 1000
SEQ_MAX = 2**31 - 1
TIMESTAMP_MAX = 2**53

# Names a further profile field may not take: the envelope's, the id's, the server's own.
RESERVED_PROFILE_FIELDS = frozenset(
    {"request_id", "ok", "failed", "user_id", "created", "created_at", "updated_at"}
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]*")
_MISSING = re.compile(r"Object missing required field `([^`]*)`")
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]*)`")
_AT = re.compile(r"^(.*?)(?: - at `\$\.?([^`]*)`)?$")
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "bool": "true or false",
    "object": "an object",
    "array": "an array",
    "float": "a number",
    "null": "null",
}
_any_decoder = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}

R = TypeVar("R", bound=Request)


class Parsed:
    """A body that is a JSON object: its ``request_id`` and, on demand, its checked fields."""

    __slots__ = ("_error", "data", "request_id", "too_large")

    def __init__(
        self,
        data: Any,
        request_id: str,
        error: InvalidRequest | None,
        too_large: str | None = None,
    ) -> None:
        self.data = data
        self.request_id = request_id
        self._error = error
        # An over-long request_id (ok 6) answers only when no field breaks an ok-1 rule.
        self.too_large = too_large

    def fields(self) -> Any:
        """Return the decoded request, or raise the first field error (ok 1)."""
        if self._error is not None:
            raise self._error
        return self.data

    def checker(self) -> Checker:
        """Return a Checker that already holds this body's request_id problem, if any."""
        checker = Checker()
        if self.too_large is not None:
            checker.large(self.too_large)
        return checker


def parse_body(body: bytes, request_type: type[R] | None) -> Parsed:
    """Return the body decoded as ``request_type`` (a plain object when None).

    Raises InvalidRequest at once for a body that is not a JSON object; a field error is
    kept in the result, to be raised by :meth:`Parsed.fields` when its turn comes.
    """
    if request_type is None:
        data: Any = _object_or_raise(body)
        rid = data.get("request_id")
    else:
        decoder = _decoders.get(request_type)
        if decoder is None:
            decoder = _decoders[request_type] = msgspec.json.Decoder(request_type)
        try:
            data = decoder.decode(body)
        except msgspec.ValidationError as exc:
            raw = _object_or_raise(body)
            return Parsed(raw, _request_id_of(raw), InvalidRequest(_explain(str(exc))))
        except (msgspec.DecodeError, UnicodeDecodeError):
            _object_or_raise(body)  # raises: the body is not JSON
            raise  # pragma: no cover - the line above always raises here
        rid = data.request_id
    if rid is None or (isinstance(rid, str) and _valid_request_id(rid)):
        return Parsed(data, rid or new_id(), None)
    problem = _request_id_error(rid)
    if isinstance(problem, TooLarge):
        return Parsed(data, new_id(), None, problem.failed)
    return Parsed(data, new_id(), problem)


def _object_or_raise(body: bytes) -> dict[str, Any]:
    try:
        raw = _any_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise InvalidRequest("body: must be valid JSON (UTF-8)") from None
    if not isinstance(raw, dict):
        raise InvalidRequest("body: must be a JSON object")
    return raw


def _valid_request_id(rid: str) -> bool:
    return 0 < len(rid) <= REQUEST_ID_MAX and not _CONTROL.search(rid)


def _request_id_of(raw: dict[str, Any]) -> str:
    rid = raw.get("request_id")
    return rid if isinstance(rid, str) and _valid_request_id(rid) else new_id()


def _request_id_error(rid: Any) -> InvalidRequest | TooLarge:
    if not isinstance(rid, str):
        return InvalidRequest("request_id: must be a string")
    if rid == "":
        return InvalidRequest("request_id: must not be empty")
    if _CONTROL.search(rid):
        return InvalidRequest("request_id: must not contain control characters")
    return TooLarge(f"request_id: must be at most {REQUEST_ID_MAX} characters")


def _explain(text: str) -> str:
    """Return msgspec's validation message as `field: rule`."""
    if m := _MISSING.search(text):
        return f"{_join(_AT.match(text).group(2), m.group(1))}: is required"
    if m := _UNKNOWN.search(text):
        return f"{_join(_AT.match(text).group(2), m.group(1))}: is not a known field"
    m = _AT.match(text)
    rule, path = m.group(1), m.group(2) or "body"
    if t := re.match(r"Expected `([^`]*)`, got `([^`]*)`", rule):
        wanted = " or ".join(
            _TYPE_WORDS.get(w.strip(), w.strip())
            for w in t.group(1).split("|")
            if w.strip() != "null"
        )
        return f"{path}: must be {wanted}, not {_TYPE_WORDS.get(t.group(2), t.group(2))}"
    if rule.startswith("Invalid enum value"):
        return f"{path}: must be one of " + ", ".join(f'"{v}"' for v in ("user", "ai"))
    if "out of range" in rule:
        return f"{path}: number out of range"
    return f"{path}: {rule[:1].lower()}{rule[1:]}"


def _join(path: str | None, name: str) -> str:
    return f"{path}.{name}" if path else name


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
        elif _CONTROL.search(value):
            self.bad("user_id: must not contain control characters")
        elif len(value) > USER_ID_MAX:
            self.large(f"user_id: must be at most {USER_ID_MAX} characters")

    def session_id(self, value: str) -> None:
        if value == "":
            self.bad("session_id: must not be empty")
        elif not _SESSION_ID.fullmatch(value):
            self.bad("session_id: may contain only A-Z, a-z, 0-9, '_' and '-'")
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
        if _has_nul(value):
            self.bad(f"{name}: must not contain U+0000")
        encoded = _encode(value)
        if len(encoded) > most_bytes:
            self.large(f"{name}: must be at most {most_bytes} bytes as JSON")
        return encoded

    def number(self, name: str, value: int, least: int, most: int) -> None:
        if value < least:
            self.bad(f"{name}: must be at least {least}")
        elif value > most:
            self.bad(f"{name}: must be at most {most}")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


# -- per-request rules ------------------------------------------------------------------


def check_user_only(settings: Settings, parsed: Parsed) -> Any:
    """Return the checked request whose only field is ``user_id``."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.done()
    return req


def check_user_session(settings: Settings, parsed: Parsed) -> Any:
    """Return the checked request that names a ``user_id`` and a ``session_id``."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.session_id(req.session_id)
    c.done()
    return req


class AddChatInput(msgspec.Struct):
    """add_chat after its checks: ``meta`` as the JSON to store."""

    user_id: str
    role: str
    msg: str
    session_id: str | None
    session_title: str | None
    meta: bytes | None


def check_add_chat(settings: Settings, parsed: Parsed) -> AddChatInput:
    """Return add_chat's checked input."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    if req.session_id:
        c.session_id(req.session_id)
    c.text("msg", req.msg, settings.max_msg_chars, empty=False)
    if req.session_title is not None:
        c.text("session_title", req.session_title, SESSION_TITLE_MAX)
    meta = None
    if req.meta is not None:
        meta = c.json_object("meta", req.meta, settings.max_meta_bytes)
    c.done()
    return AddChatInput(
        user_id=req.user_id,
        role=req.role,
        msg=req.msg,
        session_id=req.session_id or None,
        session_title=req.session_title or None,
        meta=meta,
    )


def check_session_names(
    settings: Settings, parsed: Parsed
) -> tuple[Any, int, tuple[int, str] | None]:
    """Return the request, its page size and the keyset position its cursor names."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    limit = SESSIONS_LIMIT_DEFAULT if req.limit is None else req.limit
    c.number("limit", limit, 1, SESSIONS_LIMIT_MAX)
    after = None
    if req.cursor:
        after = decode_cursor(req.cursor)
        if after is None:
            c.bad("cursor: is not a cursor this server gave")
    c.done()
    return req, limit, after


def check_session_info(settings: Settings, parsed: Parsed) -> tuple[Any, int, int | None]:
    """Return the request, its page size and ``before_seq``."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.session_id(req.session_id)
    limit = CHATS_LIMIT_DEFAULT if req.limit is None else req.limit
    c.number("limit", limit, 1, CHATS_LIMIT_MAX)
    if req.before_seq is not None:
        c.number("before_seq", req.before_seq, 1, SEQ_MAX)
    c.done()
    return req, limit, req.before_seq


class AddUserInput(msgspec.Struct):
    """add_user after its checks: the known fields given, and the further ones as JSON."""

    user_id: str
    user_name: str | None
    phone: str | None
    email: str | None
    extra: dict[str, Any]
    profile_max: int  # bytes of JSON the further fields may take, with those kept before


def check_add_user(settings: Settings, parsed: Parsed) -> AddUserInput:
    """Return add_user's checked input from the request object."""
    raw = parsed.fields()
    c = parsed.checker()
    user_id = raw.get("user_id")
    if user_id is None:
        c.bad("user_id: is required")
    elif not isinstance(user_id, str):
        c.bad("user_id: must be a string")
    else:
        c.user_id(user_id)
    known: dict[str, str | None] = {}
    for name, most in (("user_name", USER_NAME_MAX), ("phone", PHONE_MAX), ("email", EMAIL_MAX)):
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            c.bad(f"{name}: must be a string")
            continue
        if value is not None:
            c.text(name, value, most)
        known[name] = value
    extra = {k: v for k, v in raw.items() if k not in known and k != "request_id"}
    extra.pop("user_id", None)
    for name, value in extra.items():
        if name in RESERVED_PROFILE_FIELDS:
            c.bad(f"{name}: is set by the server and cannot be given")
        elif _has_nul(name) or _has_nul(value):
            c.bad(f"{name.replace(chr(0), '')}: must not contain U+0000")
    if extra:
        c.json_object("profile fields", extra, settings.max_profile_bytes)
    c.done()
    return AddUserInput(
        user_id=user_id, extra=extra, profile_max=settings.max_profile_bytes, **known
    )


LOGIN_CODE_MAX = 128


def check_login(settings: Settings, parsed: Parsed) -> Any:
    """Return the checked /login request (its ``code``)."""
    req = parsed.fields()
    c = parsed.checker()
    if req.code == "":
        c.bad("code: must not be empty")
    elif _CONTROL.search(req.code):
        c.bad("code: must not contain control characters")
    elif len(req.code) > LOGIN_CODE_MAX:
        c.large(f"code: must be at most {LOGIN_CODE_MAX} characters")
    c.done()
    return req


# -- session list cursor ----------------------------------------------------------------


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
    if not _SESSION_ID.fullmatch(session_id) or len(session_id) > SESSION_ID_MAX:
        return None
    return updated_at, session_id
