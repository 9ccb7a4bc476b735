"""Each endpoint's checks: a parsed body in, the checked request (or an ok 1 / ok 6) out."""

from __future__ import annotations

from typing import Any

import msgspec

from huihua.wire.cursor import decode_cursor
from huihua.wire.parse import Parsed
from huihua.wire.rules import (
    CHATS_LIMIT_DEFAULT,
    CHATS_LIMIT_MAX,
    CONTROL_CHARS,
    EMAIL_MAX,
    NUL_ESCAPE,
    PHONE_MAX,
    RESERVED_PROFILE_FIELDS,
    SEQ_MAX,
    SESSION_TITLE_MAX,
    SESSIONS_LIMIT_DEFAULT,
    SESSIONS_LIMIT_MAX,
    USER_NAME_MAX,
    Limits,
    has_nul,
)

_encode = msgspec.json.Encoder().encode


def check_user_only(parsed: Parsed) -> Any:
    """Return the checked request whose only field is ``user_id``."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.done()
    return req


def check_user_session(parsed: Parsed) -> Any:
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


def check_add_chat(parsed: Parsed, limits: Limits) -> AddChatInput:
    """Return add_chat's checked input."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    if req.session_id:
        c.session_id(req.session_id)
    c.text("msg", req.msg, limits.max_msg_chars, empty=False)
    if req.session_title is not None:
        c.text("session_title", req.session_title, SESSION_TITLE_MAX)
    meta = None
    if req.meta is not None:
        meta = c.json_object("meta", req.meta, limits.max_meta_bytes)
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
    parsed: Parsed,
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


def check_session_info(parsed: Parsed) -> tuple[Any, int, int | None]:
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


def check_add_user(parsed: Parsed, limits: Limits) -> AddUserInput:
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
    # Each field is looked at only when the whole could break a rule: 100,000 fields cost
    # one encode in C, not 100,000 walks in Python.
    suspect = extra and (
        not RESERVED_PROFILE_FIELDS.isdisjoint(extra) or NUL_ESCAPE in _encode(extra)
    )
    for name, value in extra.items() if suspect else ():
        if name in RESERVED_PROFILE_FIELDS:
            c.bad(f"{name}: is set by the server and cannot be given")
        elif has_nul(name) or has_nul(value):
            c.bad(f"{name.replace(chr(0), '')}: must not contain U+0000")
    if extra:
        c.json_object("profile fields", extra, limits.max_profile_bytes)
    c.done()
    return AddUserInput(user_id=user_id, extra=extra, profile_max=limits.max_profile_bytes, **known)


LOGIN_CODE_MAX = 128


def check_login(parsed: Parsed) -> Any:
    """Return the checked /login request (its ``code``)."""
    req = parsed.fields()
    c = parsed.checker()
    if req.code == "":
        c.bad("code: must not be empty")
    elif CONTROL_CHARS.search(req.code):
        c.bad("code: must not contain control characters")
    elif len(req.code) > LOGIN_CODE_MAX:
        c.large(f"code: must be at most {LOGIN_CODE_MAX} characters")
    c.done()
    return req
