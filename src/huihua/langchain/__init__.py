"""LangChain's chat history on huihua (the extra ``huihua[langchain]``: langchain-core).

::

    from huihua.client import Client
    from huihua.langchain import HuihuaChatMessageHistory, raise_history_errors

    raise_history_errors()  # a failed write of a turn raises, not only logs
    huihua = Client("https://chat.example.com", service_key=KEY)
    chain = RunnableWithMessageHistory(
        prompt | model,
        lambda session_id, user_id: HuihuaChatMessageHistory(
            session_id=session_id, user_id=user_id, client=huihua
        ),
        ...
    )

How each LangChain message maps to docs/api.md §5.1 is in huihua.langchain.convert.
"""

from __future__ import annotations

from huihua.langchain.convert import from_chat, to_chat
from huihua.langchain.history import HuihuaChatMessageHistory

__all__ = ["HuihuaChatMessageHistory", "from_chat", "raise_history_errors", "to_chat"]


def raise_history_errors() -> None:
    """Make LangChain raise what a history raises in ``RunnableWithMessageHistory``.

    It calls the history's ``add_messages`` from a root listener, and LangChain's callback
    manager logs a listener's error and goes on unless the listener's tracer says
    ``raise_error``. This sets it on both (sync and async) for the whole process.
    """
    from langchain_core.tracers.root_listeners import (
        AsyncRootListenersTracer,
        RootListenersTracer,
    )

    RootListenersTracer.raise_error = True
    AsyncRootListenersTracer.raise_error = True
