"""HuihuaChatStore: LlamaIndex's chat store, one huihua session per key, for one user."""

from __future__ import annotations

import contextlib
from typing import Any

from llama_index.core.llms import ChatMessage
from llama_index.core.storage.chat_store.base import BaseChatStore
from pydantic import ConfigDict, Field

from huihua import errors
from huihua.client import AsyncClient, Client
from huihua.client.turns import META_MAX_BYTES
from huihua.llamaindex.convert import from_chat, to_chat
from huihua.wire.rules import CHATS_PER_CALL_MAX


class HuihuaChatStore(BaseChatStore):
    """A LlamaIndex ``BaseChatStore`` whose keys are the session ids of one huihua user.

    ``client`` is a :class:`huihua.client.Client` (the sync methods) or an
    :class:`~huihua.client.AsyncClient` (the async ones, natively); give ``async_client``
    as well to have both. The user must exist (the back end's ``add_user``).

    What maps: ``get_messages`` (the session, oldest first, only ``complete`` messages),
    ``add_message`` (one append), ``delete_messages`` (the session), ``delete_message``
    and ``delete_last_message`` (``/delete_chat`` of that message's seq), ``get_keys``
    (the user's sessions, pinned first, then most recently active first). Messages huihua
    cannot keep raise ValueError before anything is written (huihua.llamaindex.convert).

    What cannot, and why:

    - ``get_keys`` lists one user's sessions, not every key of the store: every huihua
      request names one user (docs/api.md §7), so a store is bound to ``user_id``; make one per
      user.
    - ``set_messages`` (replace a key's messages) is not one transaction: huihua has no
      call that replaces a session's messages, so it deletes the session, then appends the
      messages (``/add_chats``, all or none per 100). A failure in between leaves the
      session empty or shorter; it raises, and calling it again repairs it.
    - ``delete_message(key, idx)`` finds the message by its index in the list as read
      just before; a message appended between the read and the delete does not move it,
      but one deleted by another client does.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    user_id: str
    client: Client | None = Field(default=None, exclude=True)
    async_client: AsyncClient | None = Field(default=None, exclude=True)
    meta_max_bytes: int = META_MAX_BYTES

    def __init__(self, *, user_id: str, client: Client | AsyncClient, **kwargs: Any) -> None:
        if isinstance(client, AsyncClient):
            kwargs.setdefault("async_client", client)
            client = None  # type: ignore[assignment]
        # mypy sees BaseChatStore's fields in pydantic's __init__, not this subclass's
        super().__init__(user_id=user_id, client=client, **kwargs)  # type: ignore[call-arg]

    @classmethod
    def class_name(cls) -> str:
        return "HuihuaChatStore"

    def _sync(self) -> Client:
        if self.client is None:
            raise TypeError("this store has an AsyncClient: use the async methods")
        return self.client

    def _async(self) -> AsyncClient:
        if self.async_client is None:
            raise TypeError("this store has no AsyncClient: use the sync methods")
        return self.async_client

    def _turns(self, messages: list[ChatMessage]) -> list[list[dict[str, Any]]]:
        chats = [to_chat(m, f"message {i}", self.meta_max_bytes) for i, m in enumerate(messages)]
        return [chats[i : i + CHATS_PER_CALL_MAX] for i in range(0, len(chats), CHATS_PER_CALL_MAX)]

    def _ids(self, key: str) -> dict[str, Any]:
        return {"user_id": self.user_id, "session_id": key}

    # -- sync ---------------------------------------------------------------------------

    def _chats(self, key: str) -> list[Any]:
        try:
            chats = list(self._sync().messages(**self._ids(key)))
        except errors.NotFound:
            return []
        return [c for c in reversed(chats) if c.status == "complete"]

    def get_messages(self, key: str) -> list[ChatMessage]:
        return [from_chat(c) for c in self._chats(key)]

    def add_message(self, key: str, message: ChatMessage) -> None:
        (chats,) = self._turns([message])
        self._sync().add_chats(**self._ids(key), chats=chats)

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        turns = self._turns(messages)  # every check before anything is deleted
        with contextlib.suppress(errors.NotFound):
            self._sync().delete_specific_session(**self._ids(key))
        for chats in turns:
            self._sync().add_chats(**self._ids(key), chats=chats)

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        messages = self.get_messages(key)
        try:
            self._sync().delete_specific_session(**self._ids(key))
        except errors.NotFound:
            return None
        return messages

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        chats = self._chats(key)
        if not -len(chats) <= idx < len(chats):
            return None
        self._sync().delete_chat(**self._ids(key), seq=chats[idx].seq)
        return from_chat(chats[idx])

    def delete_last_message(self, key: str) -> ChatMessage | None:
        return self.delete_message(key, -1)

    def get_keys(self) -> list[str]:
        try:
            return [s.session_id for s in self._sync().sessions(user_id=self.user_id)]
        except errors.NotFound:
            return []

    # -- async, natively on the AsyncClient ----------------------------------------------

    async def _achats(self, key: str) -> list[Any]:
        chats = []
        try:
            async for chat in self._async().messages(**self._ids(key)):
                chats.append(chat)
        except errors.NotFound:
            return []
        return [c for c in reversed(chats) if c.status == "complete"]

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        return [from_chat(c) for c in await self._achats(key)]

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        (chats,) = self._turns([message])
        await self._async().add_chats(**self._ids(key), chats=chats)

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        turns = self._turns(messages)
        with contextlib.suppress(errors.NotFound):
            await self._async().delete_specific_session(**self._ids(key))
        for chats in turns:
            await self._async().add_chats(**self._ids(key), chats=chats)

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        messages = await self.aget_messages(key)
        try:
            await self._async().delete_specific_session(**self._ids(key))
        except errors.NotFound:
            return None
        return messages

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        chats = await self._achats(key)
        if not -len(chats) <= idx < len(chats):
            return None
        await self._async().delete_chat(**self._ids(key), seq=chats[idx].seq)
        return from_chat(chats[idx])

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        return await self.adelete_message(key, -1)

    async def aget_keys(self) -> list[str]:
        try:
            return [s.session_id async for s in self._async().sessions(user_id=self.user_id)]
        except errors.NotFound:
            return []
