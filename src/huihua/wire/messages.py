"""The rules of a message (docs/api.md §5.1), for /add_chat, /add_chats and /update_chat.

A message is checked in two steps. :func:`check_fields` checks each field by itself
(lengths, characters, schemes, counts), whatever the message's role; :func:`shape_problem`
checks how the fields go together (which role may carry what, when ``msg`` may be empty).
/add_chat and /add_chats run both on what they are given; /update_chat runs the first on its
fields and the second on the message that would result (service/messages.py).

:class:`MessageIn` is a message after its checks, in the form the store keeps: the JSON
fields encoded, ``status`` None for ``complete``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from huihua.wire.requests import Part, ToolCall
from huihua.wire.rules import (
    CONTROL_CHARS,
    PART_MIME_MAX,
    PART_NAME_MAX,
    PART_NUMBER_MAX,
    PART_SCHEMES,
    PART_URL_MAX,
    PARTS_MAX,
    TOOL_CALLS_MAX,
    TOOL_ID_MAX,
    TOOL_NAME_MAX,
    Checker,
    Limits,
)

_encode = msgspec.json.Encoder().encode
_PART_NUMBERS = ("size", "width", "height", "duration_ms")


class MessageIn(msgspec.Struct):
    """A checked message as the store keeps it (None: not set)."""

    role: str
    msg: str
    meta: bytes | None = None
    parts: bytes | None = None  # JSON array of parts
    reasoning: str | None = None
    tool_calls: bytes | None = None  # JSON array of {id, name, arguments}
    tool_call_id: str | None = None
    name: str | None = None
    status: str | None = None  # None: "complete"
    plain: bool = True  # only the seed's fields (role, msg, meta) are set


EMPTY_MSG = "msg: must not be empty (unless the message has parts or tool_calls, or a status)"
NO_CALL_ID = 'tool_call_id: is required on a "tool" message'


def check_message(c: Checker, chat: Any, limits: Limits, at: str = "") -> MessageIn:
    """Check one message of a request (``at``: its place, e.g. ``chats[2].``); return it in
    the store's form. Problems go to ``c``."""
    meta = None
    if chat.meta is not None:
        meta = c.json_object(at + "meta", chat.meta, limits.max_meta_bytes)
    if (
        chat.parts is None
        and chat.reasoning is None
        and chat.tool_calls is None
        and chat.tool_call_id is None
        and chat.name is None
        and chat.status is None
    ):  # the seed's message, the usual one: the same rules, fewer steps
        if chat.role == "tool":
            c.bad(at + NO_CALL_ID)
        elif chat.msg == "":
            c.bad(at + EMPTY_MSG)
        else:
            c.text(at + "msg", chat.msg, limits.max_msg_chars)
        return MessageIn(chat.role, chat.msg, meta)
    check_fields(c, chat, limits, at)
    status = None if chat.status in (None, "complete") else chat.status
    problem = shape_problem(
        chat.role,
        chat.msg,
        has_parts=bool(chat.parts),
        has_calls=bool(chat.tool_calls),
        has_reasoning=bool(chat.reasoning),
        status=status,
        tool_call_id=chat.tool_call_id,
        name=chat.name,
    )
    if problem is not None:
        c.bad(at + problem)
    return MessageIn(
        role=chat.role,
        msg=chat.msg,
        meta=meta,
        plain=False,
        parts=_encode(chat.parts) if chat.parts else None,
        reasoning=chat.reasoning or None,
        tool_calls=_encode(chat.tool_calls) if chat.tool_calls else None,
        tool_call_id=chat.tool_call_id,
        name=chat.name or None,
        status=status,
    )


def check_fields(c: Checker, chat: Any, limits: Limits, at: str = "") -> None:
    """Check each message field present in ``chat`` by itself (``meta`` excepted: the
    caller encodes it with :meth:`Checker.json_object`)."""
    msg = getattr(chat, "msg", None)
    if isinstance(msg, str):
        c.text(at + "msg", msg, limits.max_msg_chars)
    reasoning = getattr(chat, "reasoning", None)
    if isinstance(reasoning, str):
        c.text(at + "reasoning", reasoning, limits.max_msg_chars)
    parts = getattr(chat, "parts", None)
    if isinstance(parts, list):
        _check_parts(c, parts, at)
    calls = getattr(chat, "tool_calls", None)
    if isinstance(calls, list):
        _check_calls(c, calls, limits, at)
    for field, most in (("tool_call_id", TOOL_ID_MAX), ("name", TOOL_NAME_MAX)):
        value = getattr(chat, field, None)
        if isinstance(value, str):
            _id_text(c, at + field, value, most, empty=field == "name")


def shape_problem(
    role: str,
    msg: str,
    *,
    has_parts: bool,
    has_calls: bool,
    has_reasoning: bool,
    status: str | None,
    tool_call_id: str | None,
    name: str | None,
) -> str | None:
    """Return the first rule of how a message's fields go together that it breaks
    (``"<field>: <rule>"``), or None."""
    if has_reasoning and role != "ai":
        return 'reasoning: only an "ai" message may have reasoning'
    if has_calls and role != "ai":
        return 'tool_calls: only an "ai" message may call tools'
    if status is not None and role != "ai":
        return 'status: only an "ai" message may be other than "complete"'
    if role == "tool":
        if tool_call_id is None:
            return NO_CALL_ID
    elif tool_call_id is not None:
        return 'tool_call_id: only a "tool" message may have one'
    elif name is not None:
        return 'name: only a "tool" message may have one'
    if msg == "" and not (has_parts or has_calls or status is not None):
        return EMPTY_MSG
    return None


def _check_parts(c: Checker, parts: list[Part], at: str) -> None:
    if len(parts) > PARTS_MAX:
        c.large(f"{at}parts: must have at most {PARTS_MAX} items")
    for i, part in enumerate(parts):
        where = f"{at}parts[{i}]."
        url = part.url
        if url == "":
            c.bad(where + "url: must not be empty")
        elif CONTROL_CHARS.search(url) or " " in url:
            c.bad(where + "url: must not contain spaces or control characters")
        elif not (url[:6].lower() == PART_SCHEMES[0] or url.startswith(PART_SCHEMES[1])):
            c.bad(
                where + "url: must be an https: URL or a cloud:// file id "
                "(huihua keeps references, not file bytes: upload the file first)"
            )
        elif len(url) > PART_URL_MAX:
            c.large(f"{where}url: must be at most {PART_URL_MAX} characters")
        if part.mime is not None:
            c.text(where + "mime", part.mime, PART_MIME_MAX)
        if part.name is not None:
            c.text(where + "name", part.name, PART_NAME_MAX)
        for field in _PART_NUMBERS:
            value = getattr(part, field)
            if value is not None:
                c.number(where + field, value, 0, PART_NUMBER_MAX)


def _check_calls(c: Checker, calls: list[ToolCall], limits: Limits, at: str) -> None:
    if len(calls) > TOOL_CALLS_MAX:
        c.large(f"{at}tool_calls: must have at most {TOOL_CALLS_MAX} items")
    for i, call in enumerate(calls):
        where = f"{at}tool_calls[{i}]."
        _id_text(c, where + "id", call.id, TOOL_ID_MAX)
        _id_text(c, where + "name", call.name, TOOL_NAME_MAX)
        c.text(where + "arguments", call.arguments, limits.max_msg_chars)


def _id_text(c: Checker, name: str, value: str, most: int, *, empty: bool = False) -> None:
    if value == "" and not empty:
        c.bad(f"{name}: must not be empty")
    elif CONTROL_CHARS.search(value):
        c.bad(f"{name}: must not contain control characters")
    elif len(value) > most:
        c.large(f"{name}: must be at most {most} characters")
