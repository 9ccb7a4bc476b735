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


# A seq no reply holds, encoded where the real one goes and cut out: the bytes around it are
# the struct's own encoding, so a field added to a reply is in them too. (It cannot be
# found inside a string value: there every '"' is escaped.)
_CUT = 987_654_321_987_654_321


def _around(reply: Envelope, key: bytes) -> tuple[bytes, bytes]:
    """The reply's bytes up to and with ``key`` (what precedes the cut), and after the cut."""
    head, found, tail = _encode(reply).partition(key + b"%d" % _CUT)
    assert found, key
    return head + key, tail


def add_chat_reply_around_seq(
    request_id: str, session_id: str, created_at: str
) -> tuple[bytes, bytes]:
    """Return the encoded :class:`AddChatReply` as the bytes before and after its ``seq``:
    for a store that writes the message and its idempotency record in one statement, where
    the seq is known only inside that statement (``head + str(seq) + tail``)."""
    reply = AddChatReply(
        request_id=request_id, session_id=session_id, seq=_CUT, created_at=created_at
    )
    return _around(reply, b'"seq":')


class AddChatsReply(Envelope):
    session_id: str = ""
    seqs: list[int] = msgspec.field(default_factory=list)
    created_at: str = ""


def add_chats_reply_around_seqs(
    request_id: str, session_id: str, created_at: str
) -> tuple[bytes, bytes]:
    """Return the encoded :class:`AddChatsReply` as the bytes before and after the numbers
    of its ``seqs`` (``1,2``), as :func:`add_chat_reply_around_seq` does for add_chat."""
    reply = AddChatsReply(
        request_id=request_id, session_id=session_id, seqs=[_CUT], created_at=created_at
    )
    return _around(reply, b'"seqs":[')


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


# -- the operator's routes (docs/api.md §9) --------------------------------------------------


class UserRow(msgspec.Struct):
    """Schema of a user of /list_users: as query_user_info, with the counts; further
    profile fields follow at top level."""

    user_id: str
    user_name: str
    phone: str
    email: str
    created_at: str
    updated_at: str
    session_count: int
    message_count: int
    last_active_at: str | None


class ListUsersReply(Envelope):
    users: list[UserRow] = msgspec.field(default_factory=list)
    next_cursor: str = ""


class FeedbackOut(msgspec.Struct):
    user_id: str
    session_id: str
    session_title: str
    seq: int
    rating: str
    comment: str
    msg: str
    question: str
    rated_at: str


class ListFeedbackReply(Envelope):
    feedback: list[FeedbackOut] = msgspec.field(default_factory=list)
    next_cursor: str = ""


class TokensOut(msgspec.Struct):
    prompt: int = 0
    completion: int = 0


class DayOut(msgspec.Struct):
    """One day's figures (``date`` is "total" nowhere: the totals have none)."""

    date: str
    messages: int = 0
    active_users: int = 0
    new_users: int = 0
    replies: dict[str, int] = msgspec.field(default_factory=dict)
    tokens: dict[str, TokensOut] = msgspec.field(default_factory=dict)
    likes: int = 0
    dislikes: int = 0


class TotalsOut(msgspec.Struct):
    messages: int = 0
    active_users: int = 0
    new_users: int = 0
    replies: dict[str, int] = msgspec.field(default_factory=dict)
    tokens: dict[str, TokensOut] = msgspec.field(default_factory=dict)
    likes: int = 0
    dislikes: int = 0


class UsageStatsReply(Envelope):
    days: list[DayOut] = msgspec.field(default_factory=list)
    totals: TotalsOut = msgspec.field(default_factory=TotalsOut)
