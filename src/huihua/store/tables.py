"""The schema, and the data model it holds.

- ``users``: one row per user (the WeChat openid or any id the app chose), the profile
  fields the seed names, and the further ones as one JSON object (``profile``).
- ``chat_sessions``: a user's conversations. ``last_seq`` is the highest ``seq`` ever given
  in the session (never reused after a delete) and ``chat_count`` how many messages remain,
  so appending is one row update that takes the next seq and also moves the session to the
  top of the list (``updated_at``). ``session_title`` is NULL until one is given or the
  first ``user`` message that is not blank names it. ``pinned_at`` is when the session was
  pinned (``/pin_session``), NULL when it is not: the list shows pinned sessions first,
  most recently pinned first, each phase walking an index of its own.
- ``chat_messages``: the messages, numbered 1, 2, 3… per session (``seq``); ``meta`` is the
  client's JSON object, kept as text and sent back as it is. The fields of docs/api.md §5.1
  (``parts`` and ``tool_calls`` as JSON text, ``reasoning``, ``tool_call_id``, ``name``,
  ``status``) are NULL when not set (``status`` NULL is ``complete``); ``updated_at`` is
  NULL until ``/update_chat`` changes the message; ``rating`` (``like`` or ``dislike``) and
  its ``comment`` are the user's feedback on an ``ai`` message (``/rate_chat``), given at
  ``rated_at`` (NULL when unrated).
  The index ``ix_chat_messages_newest`` ``(user_id, created_at, session_id, seq)`` is a
  user's messages newest first, the order a search walks; nothing else of search is written
  with a message.
- ``search_digests``: per user, what a search reads instead of their messages
  (store/search/): which characters and character pairs their messages hold, and their
  signatures bit-sliced; each session's ``digested_seq`` says what of it the digest holds,
  ``search_edits`` counts the changes of its messages' text.
- ``ai_replies``: the replies huihua is asking a model for (docs/api.md §8), a row each while
  it generates: whose task holds it (``host``) until when (``lease_until``, moved at every
  flush, at least once a second), how many events it has made (``events``, as of the last
  flush), the ask's ``request_id`` and whether to send the "answer ready" notice
  (``notify``). The row goes with the reply's last write; one whose lease ran out belongs
  to a host that died, and the sweep sets its reply ``failed`` (the index on
  ``lease_until`` finds them across users: a maintenance sweep).
- ``ai_usage``: a user's model tokens per day (in the quota's time zone) and model, added
  when a reply ends: the daily quota's count and the usage figures.
- ``idempotency_records``: the reply to each write that carried a ``request_id``, with a
  fingerprint of its request, written in the same transaction as the write (docs/api.md §4).
- ``users.token_nonce``: a random value every user token carries and every request checks;
  it is made anew whenever the row is created, so deleting a user kills their tokens for
  good, even when the same openid logs in again later.
- ``login_codes``: what a ``/login`` answered, under a hash of its WeChat code, for five
  minutes, so that a retried login gets the same reply (WeChat accepts a code once).

The operator's console (docs/api.md §9) reads across users through indexes of their own
(``ix_users_newest``, ``ix_chat_messages_day``, ``ix_chat_messages_rated``,
``ix_ai_usage_day``): scans a sharded engine would fan out to every node.

Every primary key starts with ``user_id`` and every query names one user, so a sharded
engine can spread the rows by user — except ``login_codes``, whose key must be the code's
hash: the user is not known until WeChat has answered. Its rows live five minutes, are
purged as new logins come, and are few. Times are integer milliseconds since the epoch (UTC).
On MySQL/MariaDB ids are VARBINARY, so they compare byte for byte: ``abc`` and ``abc `` are
two users, which a PAD SPACE collation such as ``utf8mb4_bin`` would merge.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
    types,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from huihua.store.dialect import MYSQL_NAMES

MYSQL_TABLE_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


class Identifier(types.TypeDecorator[str]):
    """A string id that compares exactly on every store (VARBINARY on MySQL/MariaDB)."""

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.chars = length

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name in MYSQL_NAMES:
            return dialect.type_descriptor(mysql.VARBINARY(self.chars * 4))
        return dialect.type_descriptor(String(self.chars))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is not None and dialect.name in MYSQL_NAMES:
            return value.encode()
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, bytes | bytearray):
            return value.decode()
        return value


def long_text() -> types.TypeEngine[str]:
    """Return a text type that holds 65,536 four-byte characters (MEDIUMTEXT on MySQL)."""
    return Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL_NAMES)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("user_id", Identifier(128), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("email", String(254), nullable=False),
    Column("profile", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("token_nonce", String(32), nullable=True),
    # The operator's console (docs/api.md §9): the users newest first, their names filtered
    # from the index alone; the new users of a day.
    Index("ix_users_newest", "created_at", "user_id", "user_name"),
    **MYSQL_TABLE_OPTIONS,
)

chat_sessions = Table(
    "chat_sessions",
    metadata,
    Column("user_id", Identifier(128), primary_key=True),
    Column("session_id", Identifier(64), primary_key=True),
    Column("session_title", String(100), nullable=True),
    Column("chat_count", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_seq", Integer, nullable=False, server_default=text("0")),
    Column("pinned_at", BigInteger, nullable=True),
    # What the user's search digest holds of the session: its messages up to this seq, as
    # their text was when it was made (digest.py); ``search_edits`` counts the changes of
    # its messages' text, so that a digest made meanwhile does not claim them.
    Column("digested_seq", Integer, nullable=False, server_default=text("0")),
    Column("search_edits", Integer, nullable=False, server_default=text("0")),
    # The list's order, and every column a page shows: the unpinned sessions of a page are
    # read from the index alone (``pinned_at IS NULL`` is checked in it too).
    Index(
        "ix_chat_sessions_list",
        "user_id",
        "updated_at",
        "session_id",
        "session_title",
        "created_at",
        "chat_count",
        "pinned_at",
    ),
    # The pinned sessions, most recently pinned first (a few rows per user).
    Index(None, "user_id", "pinned_at", "session_id"),
    **MYSQL_TABLE_OPTIONS,
)

chat_messages = Table(
    "chat_messages",
    metadata,
    Column("user_id", Identifier(128), primary_key=True),
    Column("session_id", Identifier(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("role", String(8), nullable=False),
    Column("msg", long_text(), nullable=False),
    Column("meta", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("parts", Text, nullable=True),
    Column("reasoning", long_text(), nullable=True),
    Column("tool_calls", long_text(), nullable=True),
    Column("tool_call_id", String(128), nullable=True),
    Column("name", String(128), nullable=True),
    Column("status", String(16), nullable=True),
    Column("updated_at", BigInteger, nullable=True),
    Column("rating", String(8), nullable=True),
    Column("comment", String(1000), nullable=True),
    Column("rated_at", BigInteger, nullable=True),
    # /search_chats: a user's messages newest first, the order of its walk (store/search/).
    Index("ix_chat_messages_newest", "user_id", "created_at", "session_id", "seq"),
    # The operator's console (docs/api.md §9), across users: the messages of a day (how many,
    # by whom, the replies' statuses), from the index alone; the rated replies, newest
    # first (only rated ones where the store has partial indexes).
    Index("ix_chat_messages_day", "created_at", "user_id", "role", "status"),
    Index(
        "ix_chat_messages_rated",
        "rated_at",
        "user_id",
        "session_id",
        "seq",
        "rating",
        sqlite_where=text("rated_at IS NOT NULL"),
        postgresql_where=text("rated_at IS NOT NULL"),
    ),
    **MYSQL_TABLE_OPTIONS,
)

# A user's search digest (digest.py): which characters and pairs their messages hold, in
# parts of 1 KiB; a search that none can contain is answered from a few of these rows.
search_digests = Table(
    "search_digests",
    metadata,
    Column("user_id", Identifier(128), primary_key=True),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("bits", LargeBinary, nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

ai_replies = Table(
    "ai_replies",
    metadata,
    Column("user_id", Identifier(128), primary_key=True),
    Column("session_id", Identifier(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("request_id", String(128), nullable=True),
    Column("host", String(64), nullable=False),
    Column("lease_until", BigInteger, nullable=False),
    Column("events", Integer, nullable=False),
    Column("notify", Integer, nullable=False, server_default=text("0")),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "lease_until"),
    **MYSQL_TABLE_OPTIONS,
)

ai_usage = Table(
    "ai_usage",
    metadata,
    Column("user_id", Identifier(128), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD in the quota's time zone
    Column("model", String(128), primary_key=True),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    # The usage figures of the operator's console, by day and model across users.
    Index("ix_ai_usage_day", "day", "model", "prompt_tokens", "completion_tokens"),
    **MYSQL_TABLE_OPTIONS,
)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("user_id", Identifier(128), primary_key=True),
    Column("request_id", Identifier(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # The retention sweep deletes the oldest first (a maintenance sweep: docs/api.md §7).
    Index(None, "created_at"),
    **MYSQL_TABLE_OPTIONS,
)

# The one table keyed by something other than user_id (see the module docstring): a row is
# claimed (user_id NULL) before WeChat is called, and holds the reply once it answered.
login_codes = Table(
    "login_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("claimed_at", BigInteger, nullable=False),
    Column("user_id", Identifier(128), nullable=True),
    Column("token_nonce", String(32), nullable=True),
    Column("created", Integer, nullable=True),
    Column("issued_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Index(None, "user_id"),
    Index(None, "claimed_at"),
    **MYSQL_TABLE_OPTIONS,
)
