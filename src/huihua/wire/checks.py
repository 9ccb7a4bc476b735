"""Each endpoint's checks: a parsed body in, the checked request (or an ok 1 / ok 6) out."""

from __future__ import annotations

from typing import Any

import msgspec

from huihua.wire.cursor import Position, decode_cursor, decode_search_cursor, page
from huihua.wire.messages import MessageIn, check_fields, check_message
from huihua.wire.parse import Parsed
from huihua.wire.requests import ChatIn, UpdateChatRequest
from huihua.wire.rules import (
    CHATS_LIMIT_DEFAULT,
    CHATS_LIMIT_MAX,
    CHATS_PER_CALL_MAX,
    COMMENT_MAX,
    CONTROL_CHARS,
    EMAIL_MAX,
    NUL_ESCAPE,
    PHONE_MAX,
    QUERY_MAX,
    RESERVED_PROFILE_FIELDS,
    SEARCH_LIMIT_DEFAULT,
    SEARCH_LIMIT_MAX,
    SEQ_MAX,
    SESSION_TITLE_MAX,
    SESSIONS_LIMIT_DEFAULT,
    SESSIONS_LIMIT_MAX,
    USER_NAME_MAX,
    Checker,
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
    """add_chat and add_chats after their checks: the messages in the store's form."""

    user_id: str
    session_id: str | None
    session_title: str | None
    chats: list[MessageIn]


def check_add_chat(parsed: Parsed, limits: Limits) -> AddChatInput:
    """Return add_chat's checked input."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    message = check_message(c, req, limits)
    return _appending(c, req, [message])


def check_add_chats(parsed: Parsed, limits: Limits) -> AddChatInput:
    """Return add_chats' checked input: 1 to 100 messages."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    if not req.chats:
        c.bad("chats: must hold at least one message")
    elif len(req.chats) > CHATS_PER_CALL_MAX:
        c.large(f"chats: must have at most {CHATS_PER_CALL_MAX} items")
    messages = [check_message(c, chat, limits, f"chats[{i}].") for i, chat in enumerate(req.chats)]
    return _appending(c, req, messages)


def _appending(c: Checker, req: Any, messages: list[MessageIn]) -> AddChatInput:
    if req.session_id:
        c.session_id(req.session_id)
    if req.session_title is not None:
        c.text("session_title", req.session_title, SESSION_TITLE_MAX)
    c.done()
    return AddChatInput(
        user_id=req.user_id,
        session_id=req.session_id or None,
        session_title=req.session_title or None,
        chats=messages,
    )


# The fields /update_chat may change: those of its request after the message's key.
_KEY = ("request_id", "user_id", "session_id", "seq")
UPDATABLE = tuple(f for f in UpdateChatRequest.__struct_fields__ if f not in _KEY)


def check_update_chat(parsed: Parsed, limits: Limits) -> tuple[Any, bytes | None]:
    """Return update_chat's checked request and its ``meta`` as JSON (None: cleared or not
    given). Its fields are checked one by one; the message they make, by the use case."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.session_id(req.session_id)
    c.number("seq", req.seq, 1, SEQ_MAX)
    if all(getattr(req, name) is msgspec.UNSET for name in UPDATABLE):
        c.bad(f"body: give at least one of {', '.join(UPDATABLE)}")
    check_fields(c, req, limits)
    meta = None
    if isinstance(req.meta, dict):
        meta = c.json_object("meta", req.meta, limits.max_meta_bytes)
    c.done()
    return req, meta


def check_rename_session(parsed: Parsed) -> Any:
    """Return the checked /rename_session request: a title of 1 to 100 characters."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.session_id(req.session_id)
    c.text("session_title", req.session_title, SESSION_TITLE_MAX, empty=False)
    c.done()
    return req


def check_rate_chat(parsed: Parsed) -> Any:
    """Return the checked /rate_chat request."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.session_id(req.session_id)
    c.number("seq", req.seq, 1, SEQ_MAX)
    if req.comment is not None:
        if req.rating == "":
            c.bad('comment: a comment goes with a rating ("" clears both)')
        c.text("comment", req.comment, COMMENT_MAX)
    c.done()
    return req


def check_delete_chat(parsed: Parsed) -> tuple[Any, int, bool]:
    """Return delete_chat's request, the seq it names and whether later ones go too."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.session_id(req.session_id)
    if (req.seq is None) == (req.from_seq is None):
        c.bad("seq: give either seq (one message) or from_seq (it and every later one)")
    for name in ("seq", "from_seq"):
        value = getattr(req, name)
        if value is not None:
            c.number(name, value, 1, SEQ_MAX)
    c.done()
    return req, req.seq if req.seq is not None else req.from_seq, req.from_seq is not None


def check_session_names(
    parsed: Parsed,
) -> tuple[Any, int, Position | None]:
    """Return the request, its page size and the keyset position its cursor names."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    limit, after = page(c, req, SESSIONS_LIMIT_DEFAULT, SESSIONS_LIMIT_MAX, decode_cursor)
    c.done()
    return req, limit, after


def check_search_chats(parsed: Parsed) -> tuple[Any, int, tuple[int, str, int] | None]:
    """Return the /search_chats request, its page size and the position its cursor names."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.text("query", req.query, QUERY_MAX, empty=False)
    if req.session_id is not None:
        c.session_id(req.session_id)
    limit, after = page(c, req, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, decode_search_cursor)
    c.done()
    return req, limit, after


def check_session_info(parsed: Parsed) -> tuple[Any, int]:
    """Return the request and its page size (``before_seq`` or ``after_seq``, not both)."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.session_id(req.session_id)
    limit = CHATS_LIMIT_DEFAULT if req.limit is None else req.limit
    c.number("limit", limit, 1, CHATS_LIMIT_MAX)
    if req.before_seq is not None:
        c.number("before_seq", req.before_seq, 1, SEQ_MAX)
    if req.after_seq is not None:
        if req.before_seq is not None:
            c.bad("after_seq: give before_seq (paging back) or after_seq (forward), not both")
        c.number("after_seq", req.after_seq, 0, SEQ_MAX)
    c.done()
    return req, limit


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


class AskInput(msgspec.Struct):
    """/ask_ai after its checks: the question in the store's form (None: regenerate)."""

    user_id: str
    session_id: str | None
    session_title: str | None
    question: MessageIn | None
    model: str
    notify: bool
    stream: bool


def check_ask_ai(parsed: Parsed, limits: Limits) -> AskInput:
    """Return /ask_ai's checked input: a question as a ``user`` message of /add_chat, or
    ``regenerate`` in a named session; the model one of the limits' ``models`` (the first
    by default)."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    question = None
    if req.regenerate:
        if req.msg is not None or req.parts is not None or req.meta is not None:
            c.bad(
                "regenerate: answers the session's last question again; give no msg, parts "
                "or meta with it"
            )
        if not req.session_id:
            c.bad("session_id: regenerate needs the session whose last reply it replaces")
    elif req.msg is None and req.parts is None:
        c.bad("msg: give the question (or regenerate: true)")
    else:
        chat = ChatIn(role="user", msg=req.msg or "", parts=req.parts, meta=req.meta)
        question = check_message(c, chat, limits)
    models = limits.models
    model = models[0] if req.model is None and models else (req.model or "")
    if model not in models:
        c.bad(f"model: must be one of {', '.join(models)}")
    inp = _appending(c, req, [])
    return AskInput(
        user_id=inp.user_id,
        session_id=inp.session_id,
        session_title=inp.session_title,
        question=question,
        model=model,
        notify=bool(req.notify),
        stream=req.stream is not False,
    )


def check_reply(parsed: Parsed) -> Any:
    """Return the checked /follow_reply or /stop_reply request: a message of a session."""
    req = parsed.fields()
    c = parsed.checker()
    c.user_id(req.user_id)
    c.session_id(req.session_id)
    c.number("seq", req.seq, 1, SEQ_MAX)
    after = getattr(req, "after", None)
    if after is not None:
        c.number("after", after, 0, SEQ_MAX)
    c.done()
    return req


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
