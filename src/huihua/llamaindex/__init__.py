"""LlamaIndex's chat store on huihua (the extra ``huihua[llamaindex]``: llama-index-core).

::

    from huihua.client import Client
    from huihua.llamaindex import HuihuaChatStore
    from llama_index.core.memory import ChatMemoryBuffer

    store = HuihuaChatStore(user_id=user_id, client=Client(URL, service_key=KEY))
    memory = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key=session_id)

Which of BaseChatStore's methods map to huihua, and which cannot and why, is in
HuihuaChatStore's docstring; how messages map, in huihua.llamaindex.convert.
"""

from __future__ import annotations

from huihua.llamaindex.convert import from_chat, to_chat
from huihua.llamaindex.store import HuihuaChatStore

__all__ = ["HuihuaChatStore", "from_chat", "to_chat"]
