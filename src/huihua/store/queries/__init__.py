"""All of huihua's SQL, as functions of a :class:`~huihua.store.sql.Db`. None commits.

Every statement names one user, and every read is a range scan on a key that starts with
``user_id``: a page of sessions walks ``(user_id, pinned_at, session_id)`` for the pinned
ones, then ``(user_id, updated_at, session_id, …)`` (an index that holds the page's
columns), a page of messages walks the primary key ``(user_id, session_id, seq)``. The
statements are Core, compiled once per dialect (sql.py); where the stores differ in what
one statement can do, a function asks ``db.caps`` (dialect.py).

A module per noun: ``idempotency``, ``users``, ``sessions``, ``messages``, ``turns``,
``access`` (token nonces, whole-user deletion, login codes). Callers use this package's
names: ``from huihua.store import queries as q``. Search's own SQL is in store/search/.
"""

from huihua.store.queries.access import (
    claim_login_code,
    delete_login_code,
    delete_user,
    finish_login_code,
    get_login_code,
    get_token_nonce,
    new_token_nonce,
    purge_login_codes,
    set_token_nonce,
)
from huihua.store.queries.changes import (
    delete_messages,
    message_for_update,
    message_role,
    rate_message,
    update_message,
)
from huihua.store.queries.idempotency import get_idempotency, put_idempotency
from huihua.store.queries.messages import (
    CHANGEABLE,
    EXTRA_FIELDS,
    MESSAGE_FIELDS,
    PAGE_FIELDS,
    append_alone,
    appends_alone,
    insert_message,
    insert_messages,
    messages_page,
    session_messages,
)
from huihua.store.queries.replies import (
    CONTEXT_FIELDS,
    add_usage,
    context_messages,
    delete_reply,
    expired_replies,
    insert_reply,
    last_message,
    live_replies,
    live_reply_in_session,
    move_lease,
    reply_lease,
    reply_state,
    system_messages,
    tokens_of_day,
)
from huihua.store.queries.sessions import (
    bump_session,
    delete_all_sessions,
    delete_session,
    insert_session,
    list_position,
    list_sessions,
    lock_session,
    pin_session,
    rename_session,
    session_exists,
    session_title,
    touch_session,
    uncount_messages,
)
from huihua.store.queries.turns import append_turn_alone
from huihua.store.queries.users import get_user, insert_user, update_user, user_exists

__all__ = [
    "CHANGEABLE",
    "CONTEXT_FIELDS",
    "EXTRA_FIELDS",
    "MESSAGE_FIELDS",
    "PAGE_FIELDS",
    "add_usage",
    "append_alone",
    "append_turn_alone",
    "appends_alone",
    "bump_session",
    "claim_login_code",
    "context_messages",
    "delete_all_sessions",
    "delete_login_code",
    "delete_messages",
    "delete_reply",
    "delete_session",
    "delete_user",
    "expired_replies",
    "finish_login_code",
    "get_idempotency",
    "get_login_code",
    "get_token_nonce",
    "get_user",
    "insert_message",
    "insert_messages",
    "insert_reply",
    "insert_session",
    "insert_user",
    "last_message",
    "list_position",
    "list_sessions",
    "live_replies",
    "live_reply_in_session",
    "lock_session",
    "message_for_update",
    "message_role",
    "messages_page",
    "move_lease",
    "new_token_nonce",
    "pin_session",
    "purge_login_codes",
    "put_idempotency",
    "rate_message",
    "rename_session",
    "reply_lease",
    "reply_state",
    "session_exists",
    "session_messages",
    "session_title",
    "set_token_nonce",
    "system_messages",
    "tokens_of_day",
    "touch_session",
    "uncount_messages",
    "update_message",
    "update_user",
    "user_exists",
]
