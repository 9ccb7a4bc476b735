"""The endpoint methods of AsyncClient as mypy and editors see them (made by
tests/test_client_methods.py from endpoints.py and the wire requests: do not edit).

clients.py attaches the real ones at run time; AsyncClient derives from AsyncMethods only
under TYPE_CHECKING."""

from __future__ import annotations

from typing import Any

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
        role: Any,
        msg: Any,
        session_id: Any = None,
        session_title: Any = None,
        parts: Any = None,
        reasoning: Any = None,
        tool_calls: Any = None,
        tool_call_id: Any = None,
        name: Any = None,
        status: Any = None,
        meta: Any = None,
        request_id: str | None = None,
    ) -> replies.AddChatReply:
        """POST /add_chat: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def add_chats(
        self,
        *,
        user_id: str | None = None,
        chats: Any,
        session_id: Any = None,
        session_title: Any = None,
        request_id: str | None = None,
    ) -> replies.AddChatsReply:
        """POST /add_chats: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def update_chat(
        self,
        *,
        user_id: str | None = None,
        session_id: Any,
        seq: Any,
        msg: Any = None,
        parts: Any = None,
        reasoning: Any = None,
        tool_calls: Any = None,
        meta: Any = None,
        status: Any = None,
        request_id: str | None = None,
    ) -> replies.UpdateChatReply:
        """POST /update_chat: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def delete_chat(
        self,
        *,
        user_id: str | None = None,
        session_id: Any,
        seq: Any = None,
        from_seq: Any = None,
        request_id: str | None = None,
    ) -> replies.DeleteChatReply:
        """POST /delete_chat: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def query_session_names(
        self,
        *,
        user_id: str | None = None,
        limit: Any = None,
        cursor: Any = None,
        request_id: str | None = None,
    ) -> replies.SessionNamesReply:
        """POST /query_session_names: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def query_session_info(
        self,
        *,
        user_id: str | None = None,
        session_id: Any,
        limit: Any = None,
        before_seq: Any = None,
        after_seq: Any = None,
        request_id: str | None = None,
    ) -> replies.SessionInfoReply:
        """POST /query_session_info: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def search_chats(
        self,
        *,
        user_id: str | None = None,
        query: Any,
        limit: Any = None,
        cursor: Any = None,
        session_id: Any = None,
        request_id: str | None = None,
    ) -> replies.SearchChatsReply:
        """POST /search_chats: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def rename_session(
        self,
        *,
        user_id: str | None = None,
        session_id: Any,
        session_title: Any,
        request_id: str | None = None,
    ) -> replies.RenameSessionReply:
        """POST /rename_session: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def pin_session(
        self,
        *,
        user_id: str | None = None,
        session_id: Any,
        pinned: Any,
        request_id: str | None = None,
    ) -> replies.PinSessionReply:
        """POST /pin_session: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def rate_chat(
        self,
        *,
        user_id: str | None = None,
        session_id: Any,
        seq: Any,
        rating: Any,
        comment: Any = None,
        request_id: str | None = None,
    ) -> replies.RateChatReply:
        """POST /rate_chat: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def delete_specific_session(
        self, *, user_id: str | None = None, session_id: Any, request_id: str | None = None
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

    async def login(self, *, code: Any, request_id: str | None = None) -> replies.LoginReply:
        """POST /login: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def list_users(
        self,
        *,
        query: Any = None,
        limit: Any = None,
        cursor: Any = None,
        request_id: str | None = None,
    ) -> replies.ListUsersReply:
        """POST /list_users: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def list_feedback(
        self,
        *,
        rating: Any = None,
        since: Any = None,
        limit: Any = None,
        cursor: Any = None,
        request_id: str | None = None,
    ) -> replies.ListFeedbackReply:
        """POST /list_feedback: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only

    async def usage_stats(
        self, *, days: Any = None, request_id: str | None = None
    ) -> replies.UsageStatsReply:
        """POST /usage_stats: its reply, or the HuihuaError of its ok code."""
        raise NotImplementedError  # never runs: the class is seen by mypy only
