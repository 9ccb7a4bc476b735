"""The Python client of huihua: ``Client`` and ``AsyncClient``, on httpx.

::

    from huihua.client import Client

    with Client("https://chat.example.com", service_key=KEY) as huihua:
        huihua.add_user(user_id="o6_bmjrPTlm6", user_name="tester")
        reply = huihua.add_chat(user_id="o6_bmjrPTlm6", role="user", msg="你好")
        for chat in huihua.messages(user_id="o6_bmjrPTlm6", session_id=reply.session_id):
            print(chat.seq, chat.role, chat.msg)

A method per endpoint of API.md, named as the endpoint, taking its fields as keyword
arguments and returning its reply struct (huihua.wire.replies); failures raise the
``HuihuaError`` subclass of their ok code (huihua.errors), with ``ok``, ``failed``,
``status`` and ``request_id``; ``NoReply`` when no reply came after every retry. Calls are
sent again with the same ``request_id`` on a lost reply, ok 7 and ok 8 (calls.py).

At run time it needs msgspec and httpx only: it imports huihua.wire and huihua.errors,
never server code. The LangChain and LlamaIndex histories are huihua.langchain and
huihua.llamaindex.
"""

from __future__ import annotations

from huihua.client.calls import NoReply, new_request_id
from huihua.client.clients import AsyncClient, Client
from huihua.client.endpoints import ENDPOINTS, UserInfo
from huihua.errors import HuihuaError

__all__ = [
    "ENDPOINTS",
    "AsyncClient",
    "Client",
    "HuihuaError",
    "NoReply",
    "UserInfo",
    "new_request_id",
]
