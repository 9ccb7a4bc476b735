"""The wire contract of ../shared/API.md: one msgspec struct per request and per reply.

Requests refuse unknown fields (API.md §2) except ``add_user``, whose further profile fields
are kept; the rules msgspec cannot say (lengths, characters, ranges) live in validation.py.
Replies extend :class:`~huihua.errors.Envelope`, so ``request_id``, ``ok`` and ``failed``
come first in every body.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from huihua.errors import Envelope


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
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


class AddChatRequest(Request):
    user_id: str
    role: Literal["user", "ai"]
    msg: str
    session_id: str | None = None
    session_title: str | None = None
    meta: dict[str, Any] | None = None


class QuerySessionNamesRequest(Request):
    user_id: str
    limit: int | None = None
    cursor: str | None = None


class QuerySessionInfoRequest(Request):
    user_id: str
    session_id: str
    limit: int | None = None
    before_seq: int | None = None


class DeleteSpecificSessionRequest(Request):
    user_id: str
    session_id: str


class DeleteSessionsRequest(Request):
    user_id: str


class DeleteUserRequest(Request):
    user_id: str


class LoginRequest(Request):
    """The mini-program's ``wx.login`` code."""

    code: str


# -- replies ----------------------------------------------------------------------------


class AddUserReply(Envelope):
    user_id: str = ""
    created: bool = False


class UserInfoReply(Envelope):
    """Schema of query_user_info; further profile fields follow at top level."""

    user_id: str = ""
    user_name: str = ""
    phone: str = ""
    email: str = ""
    created_at: str = ""
    updated_at: str = ""


class AddChatReply(Envelope):
    session_id: str = ""
    seq: int = 0
    created_at: str = ""


class SessionOut(msgspec.Struct):
    session_id: str
    session_title: str
    created_at: str
    updated_at: str
    chat_count: int


class SessionNamesReply(Envelope):
    sessions: list[SessionOut] = msgspec.field(default_factory=list)
    next_cursor: str = ""


class ChatOut(msgspec.Struct):
    role: str
    msg: str
    seq: int
    created_at: str
    meta: msgspec.Raw | None = None


class SessionInfoReply(Envelope):
    user_id: str = ""
    session_id: str = ""
    session_title: str = ""
    chats: list[ChatOut] = msgspec.field(default_factory=list)
    has_more: bool = False


class DeleteSessionsReply(Envelope):
    deleted: int = 0


class LoginReply(Envelope):
    """``token`` goes back as ``Authorization: Bearer <token>`` until ``expires_at``."""

    user_id: str = ""
    token: str = ""
    expires_at: str = ""
    created: bool = False


class HealthReply(Envelope):
    version: str = ""
    store: str = ""
    durable: bool = True
    warnings: list[str] = msgspec.field(default_factory=list)
