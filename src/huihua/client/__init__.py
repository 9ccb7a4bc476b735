"""The Python client of huihua: ``Client`` and ``AsyncClient``, on httpx.

::

    from huihua.client import Client

    with Client("https://chat.example.com", service_key=KEY) as huihua:
        huihua.add_user(user_id="o6_bmjrPTlm6", user_name="tester")
        reply = huihua.add_chat(user_id="o6_bmjrPTlm6", role="user", msg="你好")
        for chat in huihua.messages(user_id="o6_bmjrPTlm6", session_id=reply.session_id):
            print(chat.seq, chat.role, chat.msg)

A method per endpoint of docs/api.md, named as the endpoint, taking its fields as keyword
arguments and returning its reply struct (huihua.wire.replies); failures raise the
``HuihuaError`` subclass of their ok code (huihua.errors), with ``ok``, ``failed``,
``status`` and ``request_id``; ``NoReply`` when no reply came after every retry. Calls are
sent again with the same ``request_id`` on a lost reply, ok 7 and ok 8 (calls.py).

A reply huihua asks a model for (docs/api.md §8) comes as a stream of events, ``Start``,
``Delta``…, ``Done``, which resumes by itself where a broken connection left it (streams.py)::

    with huihua.ask_ai(user_id="o6_bmjrPTlm6", msg="写一首秋天的诗") as stream:
        for event in stream:
            if isinstance(event, Delta):
                print(event.msg, end="", flush=True)
    print(stream.reply.status, stream.reply.msg)

    reply = huihua.ask_ai(user_id="o6_bmjrPTlm6", msg="再来一首").collect()  # a Reply

At run time it needs msgspec and httpx only: it imports huihua.wire and huihua.errors,
never server code. The LangChain and LlamaIndex histories are huihua.langchain and
huihua.llamaindex.
"""

from __future__ import annotations

from huihua.client.calls import NoReply, new_request_id
from huihua.client.clients import AsyncClient, Client
from huihua.client.endpoints import ENDPOINTS, UserInfo
from huihua.client.streams import (
    AsyncReplyStream,
    Delta,
    Done,
    Event,
    Reply,
    ReplyStream,
    Start,
)
from huihua.errors import HuihuaError

__all__ = [
    "ENDPOINTS",
    "AsyncClient",
    "AsyncReplyStream",
    "Client",
    "Delta",
    "Done",
    "Event",
    "HuihuaError",
    "NoReply",
    "Reply",
    "ReplyStream",
    "Start",
    "UserInfo",
    "new_request_id",
]
