"""The rules of each request field that msgspec's schema cannot say (lengths, patterns,
ranges, defaults: docs/api.md §2 and §5.1), put on the schemas openapi.py builds.

They come from the constants the checks use (wire/rules.py, wire/checks.py), so that the
document and the server cannot drift apart. They are not msgspec ``Meta`` constraints on the
structs: those would change which error answers first. The rules of a message that tie its
fields together (which role may carry what, when ``msg`` may be empty) are given in words,
in the message schemas' descriptions; a JSON Schema of them would be unreadable.
"""

from __future__ import annotations

from typing import Any

from huihua.wire.checks import LOGIN_CODE_MAX
from huihua.wire.console import (
    CONSOLE_LIMIT_DEFAULT,
    CONSOLE_LIMIT_MAX,
    DAYS_MAX,
    STAMP_PATTERN,
    USERS_QUERY_MAX,
)
from huihua.wire.rules import (
    CHATS_LIMIT_DEFAULT,
    CHATS_LIMIT_MAX,
    CHATS_PER_CALL_MAX,
    COMMENT_MAX,
    CONTROL_CHARS,
    EMAIL_MAX,
    PART_MIME_MAX,
    PART_NAME_MAX,
    PART_NUMBER_MAX,
    PART_URL_MAX,
    PARTS_MAX,
    PHONE_MAX,
    QUERY_MAX,
    REQUEST_ID_MAX,
    RESERVED_PROFILE_FIELDS,
    SEARCH_LIMIT_DEFAULT,
    SEARCH_LIMIT_MAX,
    SEQ_MAX,
    SESSION_ID_CHARS,
    SESSION_ID_MAX,
    SESSION_TITLE_MAX,
    SESSIONS_LIMIT_DEFAULT,
    SESSIONS_LIMIT_MAX,
    STATUSES,
    STATUSES_OUT,
    TOOL_CALLS_MAX,
    TOOL_ID_MAX,
    TOOL_NAME_MAX,
    USER_ID_MAX,
    USER_NAME_MAX,
    Limits,
)

REF = "#/components/schemas/{name}"
# Patterns (ECMA-262 and Python alike). A character class of CONTROL_CHARS, negated.
assert CONTROL_CHARS.pattern.startswith("[") and CONTROL_CHARS.pattern.endswith("]")
NO_CONTROL = f"^[^{CONTROL_CHARS.pattern[1:-1]}]*$"
NO_NUL = "^[^\\x00]*$"
assert SESSION_ID_CHARS.pattern.endswith("]*")
_SESSION_CLASS = SESSION_ID_CHARS.pattern[:-1]
SESSION_ID_PATTERN = f"^{_SESSION_CLASS}{{1,{SESSION_ID_MAX}}}$"
# docs/api.md §2: printable ASCII without spaces (U+0021-U+007E).
REQUEST_ID_PATTERN = f"^[!-~]{{1,{REQUEST_ID_MAX}}}$"


def json_value() -> dict[str, Any]:
    """Any JSON value whose strings and keys hold no U+0000 (docs/api.md §2)."""
    ref = {"$ref": REF.format(name="JsonValue")}
    return {
        "description": "Any JSON value; no string or key in it may contain U+0000.",
        "anyOf": [
            {"type": ["null", "boolean", "number"]},
            {"type": "string", "pattern": NO_NUL},
            {"type": "array", "items": ref},
            {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": ref},
        ],
    }


def _text(least: int, most: int, pattern: str = NO_NUL, **more: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": least, "maxLength": most, "pattern": pattern, **more}


def _field_rules(limits: Limits) -> dict[str, dict[str, Any]]:
    """The rules of each field, by name: the same in every request that has it."""
    no_nul = "no U+0000"
    return {
        "user_id": _text(
            1,
            USER_ID_MAX,
            NO_CONTROL,
            description="The WeChat openid or any string; no control characters.",
        ),
        "session_id": _text(1, SESSION_ID_MAX, SESSION_ID_PATTERN),
        "request_id": _text(
            1,
            REQUEST_ID_MAX,
            REQUEST_ID_PATTERN,
            description="Printable ASCII without spaces; unique per write call: the key that "
            "makes a retry safe (docs/api.md §4).",
        ),
        "msg": _text(
            0,
            limits.max_msg_chars,
            description='No U+0000. "" only on a message that has parts or tool_calls, or a '
            'status other than "complete".',
        ),
        "reasoning": _text(
            0, limits.max_msg_chars, description='The model\'s visible thinking; "ai" only.'
        ),
        "tool_call_id": _text(
            1,
            TOOL_ID_MAX,
            NO_CONTROL,
            description='The call this "tool" message answers: required on "tool" messages, '
            "nowhere else.",
        ),
        "name": _text(
            0, TOOL_NAME_MAX, NO_CONTROL, description='The tool\'s name; "tool" messages only.'
        ),
        "status": {
            "enum": list(STATUSES),
            "description": '"ai" only. A "streaming" placeholder is finished by /update_chat; '
            'left streaming past the server\'s streaming_timeout, it reads as "failed".',
        },
        "user_name": _text(0, USER_NAME_MAX, description=no_nul),
        "phone": _text(0, PHONE_MAX, description=no_nul),
        "email": _text(0, EMAIL_MAX, description=no_nul),
        "session_title": _text(
            0, SESSION_TITLE_MAX, description="Used only when the call creates the session."
        ),
        "meta": {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"$ref": REF.format(name="JsonValue")},
            "description": f"Kept with the message and returned as it came: at most "
            f"{limits.max_meta_bytes} bytes as compact JSON (ok 6 beyond); no U+0000 in any "
            "key or string.",
        },
        "before_seq": {
            "type": "integer",
            "minimum": 1,
            "maximum": SEQ_MAX,
            "description": "Only messages with a smaller seq: the smallest seq a client has.",
        },
        "after_seq": {
            "type": "integer",
            "minimum": 0,
            "maximum": SEQ_MAX,
            "description": "Only messages with a greater seq, the oldest first: the largest "
            "seq a client has (not with before_seq).",
        },
        "seq": {"type": "integer", "minimum": 1, "maximum": SEQ_MAX},
        "after": {
            "type": "integer",
            "minimum": 0,
            "maximum": SEQ_MAX,
            "description": "The id of the last event the client has (0: from start).",
        },
        "comment": _text(
            0, COMMENT_MAX, description='With a rating only ("" clears both); no U+0000.'
        ),
        "from_seq": {
            "type": "integer",
            "minimum": 1,
            "maximum": SEQ_MAX,
            "description": "This message and every later one (not with seq).",
        },
        "cursor": {
            "type": "string",
            "description": 'A next_cursor from a previous reply ("": the first page).',
        },
        "code": _text(1, LOGIN_CODE_MAX, NO_CONTROL, description="The code from wx.login()."),
    }


# The rules of the fields of the message's parts and tool calls, by schema.
_NESTED: dict[str, dict[str, dict[str, Any]]] = {
    "Part": {
        "url": _text(
            1,
            PART_URL_MAX,
            f"^(?:[Hh][Tt][Tt][Pp][Ss]:|cloud://)[^ {CONTROL_CHARS.pattern[1:-1]}]*$",
            description="An https: URL or a WeChat cloud file id (cloud://…): huihua keeps "
            "references, never file bytes (upload the file first).",
        ),
        "mime": _text(0, PART_MIME_MAX),
        "name": _text(0, PART_NAME_MAX),
        **{
            n: {"type": "integer", "minimum": 0, "maximum": PART_NUMBER_MAX}
            for n in ("size", "width", "height", "duration_ms")
        },
    },
    "ToolCall": {
        "id": _text(1, TOOL_ID_MAX, NO_CONTROL),
        "name": _text(1, TOOL_NAME_MAX, NO_CONTROL),
    },
}
_ARRAYS = {
    "chats": (1, CHATS_PER_CALL_MAX),
    "parts": (0, PARTS_MAX),
    "tool_calls": (0, TOOL_CALLS_MAX),
}
_MESSAGE_RULES = (
    'Rules across fields (ok 1): only "ai" messages may have reasoning, tool_calls or a '
    'status other than "complete"; tool_call_id is required on "tool" messages and allowed '
    'nowhere else, as is name; msg may be "" only when the message has parts or tool_calls, '
    'or a status other than "complete".'
)
_LIMITS = {
    "QuerySessionNamesRequest": (SESSIONS_LIMIT_DEFAULT, SESSIONS_LIMIT_MAX),
    "QuerySessionInfoRequest": (CHATS_LIMIT_DEFAULT, CHATS_LIMIT_MAX),
    "SearchChatsRequest": (SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX),
    "ListUsersRequest": (CONSOLE_LIMIT_DEFAULT, CONSOLE_LIMIT_MAX),
    "ListFeedbackRequest": (CONSOLE_LIMIT_DEFAULT, CONSOLE_LIMIT_MAX),
}
# The operator's routes (docs/api.md §9): their own fields.
_OPERATOR_RULES = {
    "ListUsersRequest": {
        "query": _text(
            0,
            USERS_QUERY_MAX,
            description='A prefix of the user id, or text in the name (A-Z either case); "": '
            "every user.",
        )
    },
    "ListFeedbackRequest": {
        "since": {
            "type": "string",
            "pattern": STAMP_PATTERN,
            "description": "Rated at this time or later: a UTC timestamp as created_at is "
            "written (2026-11-24T14:15:46.123Z).",
        },
    },
    "UsageStatsRequest": {
        "days": {
            "type": "integer",
            "minimum": 1,
            "maximum": DAYS_MAX,
            "description": "How many days, ending today in the quota's time zone.",
        }
    },
}


def constrain(schema: dict[str, Any], limits: Limits) -> None:
    """Put docs/api.md §2's and §5.1's rules on a request's msgspec schema (or a message's, a
    part's, a tool call's), in place."""
    rules = _field_rules(limits)
    if schema["title"] in _LIMITS:
        default, most = _LIMITS[schema["title"]]
        rules["limit"] = {"type": "integer", "minimum": 1, "maximum": most}
        schema["properties"]["limit"] = {**_nullable(rules["limit"]), "default": default}
    title = schema["title"]
    rules |= _OPERATOR_RULES.get(title, {})
    if title in _NESTED:
        rules = dict(_NESTED[title])
        if title == "ToolCall":
            rules["arguments"] = _text(0, limits.max_msg_chars, description="Usually JSON.")
    if title in ("AddChatRequest", "ChatIn"):
        schema["description"] = _MESSAGE_RULES
    if title == "UpdateChatRequest":
        schema["description"] = (
            'Each field given replaces the stored one whole; null (or [], "") clears it. '
            'On an "ai" message only (ok 11). The message that results must keep the rules '
            'of a message (ok 1); "streaming" may become any status, a finished reply never '
            '"streaming" again (ok 11).'
        )
    for name, (least, most) in _ARRAYS.items():
        prop = schema["properties"].get(name)
        if prop is not None:
            array = next(a for a in prop.get("anyOf", [prop]) if a.get("type") == "array")
            rules[name] = {**array, "minItems": least, "maxItems": most}
    if title == "SearchChatsRequest":
        rules["query"] = _text(
            1,
            QUERY_MAX,
            NO_NUL,
            description="Found as a substring of msg: A-Z match either case, every other "
            "character (%, _ and \\ included) only itself.",
        )
        schema["description"] = (
            'The user\'s "user" and "ai" messages whose msg contains the query, newest '
            "first; session_id: in that session only. A page also stops at the reply cap; "
            'next_cursor goes on from there ("" at the end).'
        )
    if title == "RenameSessionRequest":
        rules["session_title"] = _text(
            1, SESSION_TITLE_MAX, description="The title the session keeps from then on."
        )
    if title == "PinSessionRequest":
        rules["pinned"] = {
            "type": "boolean",
            "description": "true: listed first, most recently pinned first (pinning a pinned "
            "session again keeps its place); false: back to its place by activity.",
        }
    if title == "AskAiRequest":
        _ask_rules(rules, limits)
        schema["description"] = (
            "The question, as /add_chat takes a user message (msg, parts, meta); or "
            "regenerate: true (no msg, parts or meta) in a named session: its last message, "
            "an ai reply that is not streaming, is deleted and its question answered again."
        )
    if title in ("AddChatRequest", "AddChatsRequest", "AskAiRequest"):
        rules["session_id"] = _text(
            0,
            SESSION_ID_MAX,
            f"^{_SESSION_CLASS}{{0,{SESSION_ID_MAX}}}$",
            description='Absent or "": a new session with a server-made id; new for this '
            "user: created with this id; existing: the message is appended.",
        )
    for name, prop in schema["properties"].items():
        if name == "limit" or name not in rules:
            continue
        rule = rules[name]
        if name in schema.get("required", ()):
            schema["properties"][name] = rule
        elif "default" in prop:
            schema["properties"][name] = {**_nullable(rule), "default": prop["default"]}
        else:  # /update_chat's: absent keeps the field, null clears it
            schema["properties"][name] = _nullable(rule)
    if schema["title"] == "AddUserRequest":
        declared = set(schema["properties"])
        schema["additionalProperties"] = {"$ref": REF.format(name="JsonValue")}
        schema["propertyNames"] = {
            "pattern": NO_NUL,
            "not": {"enum": sorted(RESERVED_PROFILE_FIELDS - declared)},
        }
        schema["description"] = (
            "Further profile fields (e.g. avatar_url, gender) are kept as they came and "
            f"returned by query_user_info: at most {limits.max_profile_bytes} bytes as compact "
            "JSON in all; their names may not be "
            f"{', '.join(sorted(RESERVED_PROFILE_FIELDS))}."
        )


def _ask_rules(rules: dict[str, dict[str, Any]], limits: Limits) -> None:
    """/ask_ai's own fields (docs/api.md §8.2)."""
    model: dict[str, Any] = {"type": "string", "description": "One of the configured models."}
    if limits.models:
        model |= {"enum": list(limits.models), "description": "The first is the default."}
    rules["model"] = model
    for name, what in (
        ("regenerate", "Answer the session's last question again, in place of its last reply."),
        ("notify", "Send WeChat's subscription message if the reply ends while unheard."),
        ("stream", "false: answer start's data alone, as JSON; the reply is made all the same."),
    ):
        rules[name] = {"type": "boolean", "description": what}


def describe_chat_out(schema: dict[str, Any]) -> None:
    """Say, in place, what a message read holds: ``meta`` as the client gave it (raw JSON,
    always there), ``parts`` and ``tool_calls`` as stored (msgspec knows only raw JSON)."""
    props = schema["properties"]
    props["meta"] = {"anyOf": [{"type": "object"}, {"type": "null"}]}
    for name, item in (("parts", "Part"), ("tool_calls", "ToolCall")):
        props[name] = {"type": "array", "items": {"$ref": REF.format(name=item)}}
    props["status"] = {"enum": list(STATUSES_OUT), "default": "complete"}
    schema["description"] = (
        "A field at its default is left out, but role, msg, seq, created_at and meta."
    )


def _nullable(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule, or null (an optional field given as null counts as absent)."""
    described = {k: v for k, v in rule.items() if k == "description"}
    inner = {k: v for k, v in rule.items() if k != "description"}
    return {"anyOf": [inner, {"type": "null"}], **described}
