"""The requests of ../shared/API.md: one msgspec struct per endpoint's body.

They refuse unknown fields (API.md §2), except ``add_user``, whose further profile fields
are kept (it is decoded as a plain object; its struct is the schema only). The rules msgspec
cannot say (lengths, characters, ranges) are in rules.py and checks.py.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


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
