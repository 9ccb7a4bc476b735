"""HuihuaChatMessageHistory: a LangChain chat history kept in one huihua session."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from huihua import errors
from huihua.client import AsyncClient, Client
from huihua.client.turns import META_MAX_BYTES, check_turn_size
from huihua.langchain.convert import from_chat, to_chat


class HuihuaChatMessageHistory(BaseChatMessageHistory):
    """The messages of one huihua session of one user, as a LangChain chat history.

    ``client`` is a :class:`huihua.client.Client` (the sync methods) or an
    :class:`~huihua.client.AsyncClient` (the async ones: ``aget_messages``,
    ``aadd_messages``, ``aclear``, natively, with no thread); give ``async_client`` as
    well to have both. With a sync client alone the async methods run the sync ones in a
    thread, as LangChain's ``BaseChatMessageHistory`` does (so
    ``RunnableWithMessageHistory.ainvoke`` works); with an async client alone the sync
    methods raise TypeError. The user must exist (the back end's ``add_user``); the session is
    made by the first write.

    ``add_messages`` writes the messages as one ``/add_chats`` call: all or none, retried
    with the same ``request_id`` on a lost reply (never written twice), and raising on
    failure: ValueError, before anything is sent, for what huihua cannot keep (see
    huihua.langchain.convert and huihua.client.turns), the ``HuihuaError`` of the reply
    otherwise.

    Beware: ``RunnableWithMessageHistory`` calls ``add_messages`` from a run listener,
    and LangChain logs what a listener raises (``Error in RootListenersTracer.on_chain_end
    callback``) and returns the model's reply all the same: the turn is answered but not
    kept. To make it raise, call :func:`huihua.langchain.raise_history_errors` once at
    start-up (it sets ``raise_error`` on LangChain's two root-listener tracers), or write
    the turn yourself with ``add_messages`` after the model answers.

    Only messages whose status is ``complete`` are read back: a reply another client left
    ``streaming``, ``failed`` or ``cancelled`` is not history a model should see.
    """

    def __init__(
        self,
        *,
        session_id: str,
        user_id: str,
        client: Client | AsyncClient,
        async_client: AsyncClient | None = None,
        meta_max_bytes: int = META_MAX_BYTES,
    ) -> None:
        super().__init__()
        self.session_id = session_id
        self.user_id = user_id
        self.client = client if isinstance(client, Client) else None
        self.async_client = client if isinstance(client, AsyncClient) else async_client
        self.meta_max_bytes = meta_max_bytes

    def _sync(self) -> Client:
        if self.client is None:
            raise TypeError("this history has an AsyncClient: use the a-methods")
        return self.client

    def _turn(self, messages: Sequence[BaseMessage]) -> dict[str, Any]:
        check_turn_size(len(messages))
        chats = [
            to_chat(m, f"message {i} ({type(m).__name__})", self.meta_max_bytes)
            for i, m in enumerate(messages)
        ]
        return {"user_id": self.user_id, "session_id": self.session_id, "chats": chats}

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first ([] when it does not exist)."""
        try:
            chats = list(self._sync().messages(user_id=self.user_id, session_id=self.session_id))
        except errors.NotFound:
            return []
        return [from_chat(c) for c in reversed(chats) if c.status == "complete"]

    async def aget_messages(self) -> list[BaseMessage]:
        """The session's messages, oldest first ([] when it does not exist)."""
        if self.async_client is None:  # a sync client alone: its method, in a thread
            return await super().aget_messages()
        chats = []
        try:
            async for chat in self.async_client.messages(
                user_id=self.user_id, session_id=self.session_id
            ):
                chats.append(chat)
        except errors.NotFound:
            return []
        return [from_chat(c) for c in reversed(chats) if c.status == "complete"]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Write ``messages`` at the end of the session, all or none (one /add_chats)."""
        if messages:
            self._sync().add_chats(**self._turn(messages))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Write ``messages`` at the end of the session, all or none (one /add_chats)."""
        if self.async_client is None:
            await super().aadd_messages(messages)
        elif messages:
            await self.async_client.add_chats(**self._turn(messages))

    def clear(self) -> None:
        """Delete the session and its messages (nothing to do when there is none)."""
        with contextlib.suppress(errors.NotFound):
            self._sync().delete_specific_session(user_id=self.user_id, session_id=self.session_id)

    async def aclear(self) -> None:
        """Delete the session and its messages (nothing to do when there is none)."""
        if self.async_client is None:
            await super().aclear()
            return
        with contextlib.suppress(errors.NotFound):
            await self.async_client.delete_specific_session(
                user_id=self.user_id, session_id=self.session_id
            )
