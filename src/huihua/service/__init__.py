"""The use cases: what each endpoint does to the store, one unit of work each.

A write is a function of a :class:`~huihua.store.sql.Db` (a connection in a transaction),
wrapped in an :class:`~huihua.service.idempotency.Idempotency` so that its record (docs/api.md
§4) is read and written in the write's own transaction, and run by the store's transaction
runner, which commits. Nothing here commits, and nothing here knows HTTP: the service
imports the store and the wire contract, never ``huihua.http`` or ``huihua.access``.

- ``idempotency``: the at-most-once piece every write goes through;
- ``users``: add or update, read, delete whole; a user's token nonce;
- ``chats``: append a message or a turn, list sessions, delete sessions;
- ``pages``: read a page of a session's messages, within the reply cap;
- ``messages``: update or delete stored messages;
- ``organise``: rename a session, pin one, rate an answer;
- ``search``: find the user's messages by their words;
- ``export``: a user's data, whole, streamed from one snapshot;
- ``login``: a wx.login code exchanged once for its user;
- ``replies``: ask the model (the question and the reply's placeholder, then the relay's
  task), follow a reply, stop one (docs/api.md §8).
"""

from huihua.service.chats import (
    add_chat,
    add_chats,
    auto_title,
    delete_sessions,
    delete_specific_session,
    query_session_names,
)
from huihua.service.export import export_user_data
from huihua.service.idempotency import Idempotency, WriteCall
from huihua.service.login import LoginFacts, login, login_code_hash
from huihua.service.messages import delete_chat, update_chat
from huihua.service.organise import pin_session, rate_chat, rename_session
from huihua.service.pages import PageAsk, query_session_info
from huihua.service.replies import Replies, ask_ai, follow_reply, stop_reply
from huihua.service.search import search_chats
from huihua.service.users import add_user, delete_user, query_user_info, token_nonce

__all__ = [
    "Idempotency",
    "LoginFacts",
    "PageAsk",
    "Replies",
    "WriteCall",
    "add_chat",
    "add_chats",
    "add_user",
    "ask_ai",
    "auto_title",
    "delete_chat",
    "delete_sessions",
    "delete_specific_session",
    "delete_user",
    "export_user_data",
    "follow_reply",
    "login",
    "login_code_hash",
    "pin_session",
    "query_session_info",
    "query_session_names",
    "query_user_info",
    "rate_chat",
    "rename_session",
    "search_chats",
    "stop_reply",
    "token_nonce",
    "update_chat",
]
