"""The one table of the client: each endpoint of docs/api.md as (method, path, fields, reply).

``Client`` and ``AsyncClient`` get a method per row, named as the endpoint; an endpoint the
contract adds is one line here, its fields those of its request struct (and ``python3 -m
tests.test_client_methods`` writes the methods' signatures for mypy and editors:
methods_sync.py, methods_async.py). ``fields`` are the request's fields (besides
``request_id``, which every call takes); None takes any field (``add_user``'s further
profile fields). ``reply`` names the reply struct of huihua.wire.replies; one the wire
package does not have yet (its endpoint is not on the server yet either, and answers ok 2)
is decoded as a dict. The methods of §8's three rows are written out, with their fields as
keyword parameters (asking.py): /ask_ai and /follow_reply answer a stream of events
(streams.py); /ask_ai's ``reply`` is start's data, which it answers alone with ``stream:
false``.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

import msgspec

from huihua.wire import replies, requests


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    fields: tuple[str, ...] | None
    reply_name: str

    @property
    def reply(self) -> type[Any]:
        """Return the reply struct (a dict while the wire package lacks it)."""
        return getattr(replies, self.reply_name, dict)


# (method and path, reply struct): one line per endpoint. The request's fields are those of
# its request struct in huihua.wire.requests (``add_user`` → ``AddUserRequest``), the
# server's own; ``add_user`` takes any field besides (its further profile fields).
_ROWS: tuple[tuple[str, str], ...] = (
    ("add_user", "AddUserReply"),
    ("query_user_info", "UserInfoReply"),
    ("add_chat", "AddChatReply"),
    ("add_chats", "AddChatsReply"),
    ("update_chat", "UpdateChatReply"),
    ("delete_chat", "DeleteChatReply"),
    ("query_session_names", "SessionNamesReply"),
    ("query_session_info", "SessionInfoReply"),
    ("search_chats", "SearchChatsReply"),
    ("rename_session", "RenameSessionReply"),
    ("pin_session", "PinSessionReply"),
    ("rate_chat", "RateChatReply"),
    ("delete_specific_session", "Envelope"),
    ("delete_sessions", "DeleteSessionsReply"),
    ("delete_user", "Envelope"),
    ("export_user_data", "ExportUserDataReply"),
    ("login", "LoginReply"),
    ("ask_ai", "AskAiReply"),
    ("follow_reply", "Envelope"),
    ("stop_reply", "StopReplyReply"),
    # The operator's routes (docs/api.md §9), with the service key.
    ("list_users", "ListUsersReply"),
    ("list_feedback", "ListFeedbackReply"),
    ("usage_stats", "UsageStatsReply"),
)
ANY_FIELD = frozenset({"add_user"})


def _fields(name: str) -> tuple[str, ...] | None:
    """The fields of the endpoint's request struct but ``request_id`` (None: any field)."""
    if name in ANY_FIELD:
        return None
    struct = getattr(requests, "".join(p.capitalize() for p in name.split("_")) + "Request")
    return tuple(f for f in struct.__struct_fields__ if f != "request_id")


ENDPOINTS = tuple(Endpoint(name, "/" + name, _fields(name), reply) for name, reply in _ROWS)
BY_NAME = {e.name: e for e in ENDPOINTS}


def check_fields(endpoint: Endpoint, fields: dict[str, Any]) -> None:
    """Raise TypeError for a field the endpoint does not take (before anything is sent)."""
    if endpoint.fields is None:
        return
    unknown = sorted(set(fields) - set(endpoint.fields) - {"request_id"})
    if unknown:
        raise TypeError(f"{endpoint.name}() got unexpected field(s): {', '.join(unknown)}")


def _readable(struct: type[Any]) -> type[Any]:
    """Return ``struct``, or a subclass of it whose ``msgspec.Raw`` fields (JSON the server
    passes through as stored: ``meta``, ``parts``, ``tool_calls``) decode as plain values;
    nested structs likewise. msgspec encodes Raw, but cannot decode into ``Raw | None``."""
    if struct in _READABLE:
        return _READABLE[struct]
    changed = []
    for field in msgspec.structs.fields(struct):
        args = typing.get_args(field.type)
        if field.type is msgspec.Raw or msgspec.Raw in args:
            new: Any = Any
        elif typing.get_origin(field.type) is list and _is_struct(args[0]):
            new = list[_readable(args[0])]  # type: ignore[misc]
        elif _is_struct(field.type):
            new = _readable(field.type)
        else:
            continue
        if new is not field.type:
            default = field.default if field.default is not msgspec.NODEFAULT else None
            if field.default_factory is not msgspec.NODEFAULT:
                default = msgspec.field(default_factory=field.default_factory)
            changed.append((field.name, new, default) if not field.required else (field.name, new))
    readable = (
        msgspec.defstruct(struct.__name__, changed, bases=(struct,), module=__name__)
        if changed
        else struct
    )
    _READABLE[struct] = readable
    return readable


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


_READABLE: dict[type[Any], type[Any]] = {}


def decode_reply(endpoint: Endpoint, content: bytes) -> Any:
    """Return an ok-0 reply body as the endpoint's reply struct (a subclass of it whose
    stored JSON fields are plain values), and ``query_user_info``'s further profile fields
    as the reply's ``profile`` dict."""
    reply_type = endpoint.reply
    if reply_type is dict:
        return msgspec.json.decode(content)
    reply = msgspec.json.decode(content, type=_readable(reply_type))
    if endpoint.name == "query_user_info":
        everything = msgspec.json.decode(content)
        known = set(reply.__struct_fields__)
        profile = {k: v for k, v in everything.items() if k not in known}
        return UserInfo(**msgspec.structs.asdict(reply), profile=profile)
    return reply


class UserInfo(replies.UserInfoReply):
    """query_user_info's reply, with the further profile fields in ``profile``."""

    profile: dict[str, Any] = msgspec.field(default_factory=dict)
