"""The endpoint methods of AsyncClient as mypy and editors see them (made by
tests/test_client_methods.py from endpoints.py and the wire requests: do not edit).

clients.py attaches the real ones at run time; AsyncClient derives from AsyncMethods only
under TYPE_CHECKING."""

from __future__ import annotations

from typing import Any, Literal

from huihua.wire import replies


class AsyncMethods:
    async def add_user(
        self, *, request_id: str | None = None, **fields: Any
    ) -> replies.AddUserReply:
        """POST /add_user: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def query_user_info(
        self, *, user_id: str | None = None, request_id: str | None = None
    ) -> replies.UserInfoReply:
        """POST /query_user_info: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def add_chat(
        self,
        *,
        user_id: str | None = None,
        role: Literal["user", "ai", "system", "tool"],
        msg: str,
        session_id: str | None = None,
        session_title: str | None = None,
        parts: list[dict[str, Any]] | None = None,
        reasoning: str | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        name: str | None = None,
        status: Literal["complete", "streaming", "failed", "cancelled"] | None = None,
        meta: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> replies.AddChatReply:
        """POST /add_chat: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def add_chats(
        self,
        *,
        user_id: str | None = None,
        chats: list[dict[str, Any]],
        session_id: str | None = None,
        session_title: str | None = None,
        request_id: str | None = None,
    ) -> replies.AddChatsReply:
        """POST /add_chats: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def update_chat(
        self,
        *,
        user_id: str | None = None,
        session_id: str,
        seq: int,
        msg: str | None = None,
        parts: list[dict[str, Any]] | None = None,
        reasoning: str | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        status: Literal["complete", "streaming", "failed", "cancelled"] | None = None,
        request_id: str | None = None,
    ) -> replies.UpdateChatReply:
        """POST /update_chat: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def delete_chat(
        self,
        *,
        user_id: str | None = None,
        session_id: str,
        seq: int | None = None,
        from_seq: int | None = None,
        request_id: str | None = None,
    ) -> replies.DeleteChatReply:
        """POST /delete_chat: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def query_session_names(
        self,
        *,
        user_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        request_id: str | None = None,
    ) -> replies.SessionNamesReply:
        """POST /query_session_names: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def query_session_info(
        self,
        *,
        user_id: str | None = None,
        session_id: str,
        limit: int | None = None,
        before_seq: int | None = None,
        after_seq: int | None = None,
        request_id: str | None = None,
    ) -> replies.SessionInfoReply:
        """POST /query_session_info: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def search_chats(
        self,
        *,
        user_id: str | None = None,
        query: str,
        limit: int | None = None,
        cursor: str | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
    ) -> replies.SearchChatsReply:
        """POST /search_chats: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def rename_session(
        self,
        *,
        user_id: str | None = None,
        session_id: str,
        session_title: str,
        request_id: str | None = None,
    ) -> replies.RenameSessionReply:
        """POST /rename_session: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def pin_session(
        self,
        *,
        user_id: str | None = None,
        session_id: str,
        pinned: bool,
        request_id: str | None = None,
    ) -> replies.PinSessionReply:
        """POST /pin_session: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def rate_chat(
        self,
        *,
        user_id: str | None = None,
        session_id: str,
        seq: int,
        rating: Literal["like", "dislike", ""],
        comment: str | None = None,
        request_id: str | None = None,
    ) -> replies.RateChatReply:
        """POST /rate_chat: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def delete_specific_session(
        self, *, user_id: str | None = None, session_id: str, request_id: str | None = None
    ) -> replies.Envelope:
        """POST /delete_specific_session: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def delete_sessions(
        self, *, user_id: str | None = None, request_id: str | None = None
    ) -> replies.DeleteSessionsReply:
        """POST /delete_sessions: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def delete_user(
        self, *, user_id: str | None = None, request_id: str | None = None
    ) -> replies.Envelope:
        """POST /delete_user: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def export_user_data(
        self, *, user_id: str | None = None, request_id: str | None = None
    ) -> replies.ExportUserDataReply:
        """POST /export_user_data: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def login(self, *, code: str, request_id: str | None = None) -> replies.LoginReply:
        """POST /login: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def list_users(
        self,
        *,
        query: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        request_id: str | None = None,
    ) -> replies.ListUsersReply:
        """POST /list_users: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def list_feedback(
        self,
        *,
        rating: Literal["like", "dislike"] | None = None,
        since: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        request_id: str | None = None,
    ) -> replies.ListFeedbackReply:
        """POST /list_feedback: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def usage_stats(
        self, *, days: int | None = None, request_id: str | None = None
    ) -> replies.UsageStatsReply:
        """POST /usage_stats: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only
