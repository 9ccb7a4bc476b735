"""The requests of docs/api.md: one msgspec struct per endpoint's body.

They refuse unknown fields (docs/api.md §2), except ``add_user``, whose further profile fields
are kept (it is decoded as a plain object; its struct is the schema only). The rules msgspec
cannot say (lengths, characters, ranges) are in rules.py and checks.py.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from huihua.wire.rules import PartType, Rating, Role, Status


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """A request body. Encoded (for its idempotency fingerprint) without the fields left at
    their default: fewer fields to sort and hash, and the same fingerprint whether an
    optional field was left out or sent as null."""

    request_id: str | None = None


# -- requests ---------------------------------------------------------------------------


class AddUserRequest(Request):
    """Schema only: add_user is decoded as an object so that further fields are kept."""

    user_id: str
    user_name: str | None = None
    phone: str | None = None
    email: str | None = None


class QueryUserInfoRequest(Request):
    user_id: str


class Part(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """An attachment, by reference (docs/api.md §5.1): an ``https:`` URL or a ``cloud://`` id."""

    type: PartType
    url: str
    mime: str | None = None
    name: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None


class ToolCall(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A call an ``ai`` message makes; ``arguments`` is a string (usually JSON)."""

    id: str
    name: str
    arguments: str


class ChatIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One message of /add_chats: the message fields of /add_chat (docs/api.md §5.1)."""

    role: Role
    msg: str
    parts: list[Part] | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    status: Status | None = None
    meta: dict[str, Any] | None = None


class AddChatRequest(Request):
    user_id: str
    role: Role
    msg: str
    session_id: str | None = None
    session_title: str | None = None
    parts: list[Part] | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    status: Status | None = None
    meta: dict[str, Any] | None = None


class AddChatsRequest(Request):
    user_id: str
    chats: list[ChatIn]
    session_id: str | None = None
    session_title: str | None = None


class UpdateChatRequest(Request):
    """Each field given replaces the stored one whole; ``null`` (or ``[]``, ``""``) clears
    it. A field left out keeps its value: UNSET, not None."""

    user_id: str
    session_id: str
    seq: int
    msg: str | msgspec.UnsetType | None = msgspec.UNSET
    parts: list[Part] | msgspec.UnsetType | None = msgspec.UNSET
    reasoning: str | msgspec.UnsetType | None = msgspec.UNSET
    tool_calls: list[ToolCall] | msgspec.UnsetType | None = msgspec.UNSET
    meta: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    status: Status | msgspec.UnsetType | None = msgspec.UNSET


class DeleteChatRequest(Request):
    """``seq``: that message; ``from_seq``: that one and every later one."""

    user_id: str
    session_id: str
    seq: int | None = None
    from_seq: int | None = None


class QuerySessionNamesRequest(Request):
    user_id: str
    limit: int | None = None
    cursor: str | None = None


class QuerySessionInfoRequest(Request):
    user_id: str
    session_id: str
    limit: int | None = None
    before_seq: int | None = None
    after_seq: int | None = None


class DeleteSpecificSessionRequest(Request):
    user_id: str
    session_id: str


class DeleteSessionsRequest(Request):
    user_id: str


class DeleteUserRequest(Request):
    user_id: str


class RenameSessionRequest(Request):
    user_id: str
    session_id: str
    session_title: str


class PinSessionRequest(Request):
    user_id: str
    session_id: str
    pinned: bool


class RateChatRequest(Request):
    """Feedback on an ``ai`` message: ``""`` clears it (and its comment)."""

    user_id: str
    session_id: str
    seq: int
    rating: Rating
    comment: str | None = None


class ExportUserDataRequest(Request):
    user_id: str


class SearchChatsRequest(Request):
    user_id: str
    query: str
    limit: int | None = None
    cursor: str | None = None
    session_id: str | None = None


class LoginRequest(Request):
    """The mini-program's ``wx.login`` code."""

    code: str


class AskAiRequest(Request):
    """A question for the model (docs/api.md §8.2): ``msg`` and ``parts`` as a ``user`` message
    of /add_chat, or ``regenerate`` (the session's last reply answered again)."""

    user_id: str
    session_id: str | None = None
    session_title: str | None = None
    msg: str | None = None
    parts: list[Part] | None = None
    meta: dict[str, Any] | None = None
    model: str | None = None
    regenerate: bool | None = None  # None: false
    notify: bool | None = None  # None: false
    stream: bool | None = None  # None: true


class FollowReplyRequest(Request):
    """A reply's events after the event ``after`` (docs/api.md §8.3)."""

    user_id: str
    session_id: str
    seq: int
    after: int | None = None  # None: 0


class StopReplyRequest(Request):
    user_id: str
    session_id: str
    seq: int


# -- the operator's routes (docs/api.md §9) --------------------------------------------------


class ListUsersRequest(Request):
    query: str | None = None
    limit: int | None = None
    cursor: str | None = None


class ListFeedbackRequest(Request):
    rating: Literal["like", "dislike"] | None = None
    since: str | None = None
    limit: int | None = None
    cursor: str | None = None


class UsageStatsRequest(Request):
    days: int | None = None
