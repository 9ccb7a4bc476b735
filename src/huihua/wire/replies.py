"""The replies of docs/api.md: the envelope, and one msgspec struct per reply.

Every reply extends :class:`Envelope`, so ``request_id``, ``ok`` and ``failed`` come first
in every body; a failure is the envelope alone (:func:`error_body`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from huihua.errors import HuihuaError


class Envelope(msgspec.Struct):
    """The fields every reply carries."""

    request_id: str
    ok: int = 0
    failed: str = ""


_encode = msgspec.json.Encoder().encode


def error_body(request_id: str, error: HuihuaError) -> bytes:
    """Return the JSON envelope that reports ``error``."""
    return _encode(Envelope(request_id=request_id, ok=error.ok, failed=error.failed))


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


def add_chat_reply_around_seq(
    request_id: str, session_id: str, created_at: str
) -> tuple[bytes, bytes]:
    """Return the encoded :class:`AddChatReply` as the bytes before and after its ``seq``.

    For a store that writes the message and its idempotency record in one statement, where
    the seq is known only inside that statement. Written field by field, in the struct's
    order; a test checks that ``head + str(seq) + tail`` is what msgspec encodes.
    """
    head = b'{"request_id":%b,"ok":0,"failed":"","session_id":%b,"seq":' % (
        _encode(request_id),
        _encode(session_id),
    )
    return head, b',"created_at":%b}' % _encode(created_at)


class AddChatsReply(Envelope):
    session_id: str = ""
    seqs: list[int] = msgspec.field(default_factory=list)
    created_at: str = ""


def add_chats_reply_around_seqs(
    request_id: str, session_id: str, created_at: str
) -> tuple[bytes, bytes]:
    """Return the encoded :class:`AddChatsReply` as the bytes before and after the numbers
    of its ``seqs`` (``1,2``), as :func:`add_chat_reply_around_seq` does for add_chat."""
    head = b'{"request_id":%b,"ok":0,"failed":"","session_id":%b,"seqs":[' % (
        _encode(request_id),
        _encode(session_id),
    )
    return head, b'],"created_at":%b}' % _encode(created_at)


class UpdateChatReply(Envelope):
    seq: int = 0
    updated_at: str = ""


class DeleteChatReply(Envelope):
    deleted: int = 0


class SessionOut(msgspec.Struct):
    session_id: str
    session_title: str
    created_at: str
    updated_at: str
    chat_count: int
    pinned: bool = False


class SessionNamesReply(Envelope):
    sessions: list[SessionOut] = msgspec.field(default_factory=list)
    next_cursor: str = ""


class ChatOut(msgspec.Struct, omit_defaults=True):
    """A message as read: the seed's fields always, the others of docs/api.md §5.1 only when
    they are not at their default (``parts`` and ``tool_calls`` as the JSON stored)."""

    role: str
    msg: str
    seq: int
    created_at: str
    meta: msgspec.Raw | None
    parts: msgspec.Raw | None = None
    reasoning: str = ""
    tool_calls: msgspec.Raw | None = None
    tool_call_id: str = ""
    name: str = ""
    status: str = "complete"
    updated_at: str = ""
    rating: str = ""
    comment: str = ""


class SessionInfoReply(Envelope):
    user_id: str = ""
    session_id: str = ""
    session_title: str = ""
    chats: list[ChatOut] = msgspec.field(default_factory=list)
    has_more: bool = False


class ExportedSession(SessionOut):
    """A session as query_session_names lists it, with its messages."""

    chats: list[ChatOut] = msgspec.field(default_factory=list)


class ExportUserDataReply(Envelope):
    """Schema of /export_user_data (sent streamed): ``user`` as query_user_info gives it."""

    user: dict[str, Any] = msgspec.field(default_factory=dict)
    sessions: list[ExportedSession] = msgspec.field(default_factory=list)


class SearchResult(msgspec.Struct):
    """A message that contains the query; ``snippet`` is [before, match, after]."""

    session_id: str
    session_title: str
    seq: int
    role: str
    msg: str
    snippet: list[str]
    created_at: str


class SearchChatsReply(Envelope):
    results: list[SearchResult] = msgspec.field(default_factory=list)
    next_cursor: str = ""


class RateChatReply(Envelope):
    seq: int = 0
    rating: str = ""


class RenameSessionReply(Envelope):
    session_id: str = ""
    session_title: str = ""


class PinSessionReply(Envelope):
    session_id: str = ""
    pinned: bool = False


class DeleteSessionsReply(Envelope):
    deleted: int = 0


class LoginReply(Envelope):
    """``token`` goes back as ``Authorization: Bearer <token>`` until ``expires_at``."""

    user_id: str = ""
    token: str = ""
    expires_at: str = ""
    created: bool = False


class AskAiReply(Envelope):
    """What an ask wrote: the data of its stream's ``start`` event (docs/api.md §8.2)."""

    session_id: str = ""
    seqs: list[int] = msgspec.field(default_factory=list)
    created_at: str = ""


class StopReplyReply(Envelope):
    seq: int = 0
    status: str = ""


class HealthReply(Envelope):
    version: str = ""
    store: str = ""
    durable: bool = True
    warnings: list[str] = msgspec.field(default_factory=list)
