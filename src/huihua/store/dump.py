"""The operator's dump: every stored column of users, sessions and messages, as JSON Lines.

One line per user, session and message: ``{"kind": "user"|"session"|"message", <column>:
<value>, …}``, the columns of each table in their order in tables.py, so that a column
added there is dumped and restored with no change here. Lines come in the order of
``user_id``, then ``session_id`` (both compared as UTF-8 bytes, whatever the store's
collation), then ``seq``: a user's line, then each of its sessions followed by that
session's messages. Values are what the store holds, the same on every store (ids as
strings, times as integer ms, booleans as true/false), so one store's dump is
byte-identical to the dump of another that imported it. Nothing of search is dumped: a
user's search digest is made again by their searches (store/search/).

:func:`export_lines` runs inside one snapshot transaction (``Store.snapshot``): the dump
agrees with itself while a server writes. :func:`import_rows` upserts a batch of lines
(the file wins over what is stored): importing twice is importing once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Column, Table, bindparam, func, select

from huihua.store.dialect import upsert
from huihua.store.queries._common import matches
from huihua.store.search import digest
from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions, users

TABLES: dict[str, Table] = {"user": users, "session": chat_sessions, "message": chat_messages}
MESSAGES_PER_READ = 1000
_encode = msgspec.json.Encoder().encode

# The columns a dump holds: every stored one but what the search digest holds of a session
# (derived; an imported session has nothing digested).
_DERIVED = set(digest.SESSION_COLUMNS)
DUMPED: dict[str, list[Column[Any]]] = {
    kind: [c for c in t.c if c.name not in _DERIVED] for kind, t in TABLES.items()
}
_NOTHING_DIGESTED = dict.fromkeys(digest.SESSION_COLUMNS, 0)
_u, _s, _m = users.c, chat_sessions.c, chat_messages.c
_USER_IDS = Statement(select(_u.user_id))
_USER = Statement(select(*DUMPED["user"]).where(matches(_u.user_id)))
_SESSIONS = Statement(select(*DUMPED["session"]).where(matches(_s.user_id)))
_MESSAGES = Statement(
    select(*DUMPED["message"])
    .where(matches(_m.user_id), matches(_m.session_id), _m.seq > bindparam("after"))
    .order_by(_m.seq)
    .limit(bindparam("limit"))
)
_COUNT_ALL = Statement(select(func.count().label("n")).select_from(chat_messages))
_COUNT_USER = Statement(select(func.count().label("n")).where(matches(_m.user_id)))
_UPSERTS: dict[tuple[str, str], Statement] = {}
_SESSION_ID = [c.name for c in DUMPED["session"]].index("session_id")
_SEQ = [c.name for c in DUMPED["message"]].index("seq")


class DumpError(Exception):
    """A line of a dump cannot be imported (the message names it and why)."""


@dataclass
class Counts:
    """Lines of each kind dumped or loaded."""

    users: int = 0
    sessions: int = 0
    messages: int = 0

    def __str__(self) -> str:
        return f"{self.users} users, {self.sessions} sessions, {self.messages} messages"


def _converter(column: Column[Any]) -> Callable[[Any], Any]:
    """Return what turns a column's value, as any driver gives it, into the dump's value."""
    try:
        kind = column.type.python_type
    except NotImplementedError:
        kind = object
    if kind is bool:  # SQLite and MySQL give 0/1
        return lambda v: v if v is None else bool(v)
    if kind is int:
        return lambda v: v if v is None else int(v)
    if kind is str:  # MySQL's VARBINARY ids come as bytes
        return lambda v: v.decode() if isinstance(v, bytes | bytearray) else v
    return lambda v: v


_CONVERTERS = {kind: [(c.name, _converter(c)) for c in cs] for kind, cs in DUMPED.items()}


def _line(kind: str, row: tuple[Any, ...]) -> bytes:
    fields: dict[str, Any] = {"kind": kind}
    for (name, convert), value in zip(_CONVERTERS[kind], row, strict=True):
        fields[name] = convert(value)
    return _encode(fields) + b"\n"


def _utf8(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def count_messages(db: Db, user_id: str | None = None) -> int:
    """Return how many messages the store holds (of one user, when given)."""
    if user_id is None:
        return int(db.scalar(_COUNT_ALL))
    return int(db.scalar(_COUNT_USER, user_id=user_id))


def export_lines(
    db: Db,
    write: Callable[[bytes], Any],
    user_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Counts:
    """Write the dump of every user (or of ``user_id`` alone) line by line; return the
    counts. ``progress`` is told how many messages each read added. A user the store
    does not hold dumps nothing (the counts say 0)."""
    counts = Counts()
    if user_id is None:
        ids = sorted((row[0] for row in db.tuples(_USER_IDS)), key=_utf8)
    else:
        ids = [user_id]
    for uid in ids:
        user = db.tuples(_USER, user_id=uid)
        if not user:
            continue
        write(_line("user", user[0]))
        counts.users += 1
        sessions = sorted(db.tuples(_SESSIONS, user_id=uid), key=lambda r: _utf8(r[_SESSION_ID]))
        for session in sessions:
            write(_line("session", session))
            counts.sessions += 1
            after = 0
            while True:
                page = db.tuples(
                    _MESSAGES,
                    user_id=uid,
                    session_id=session[_SESSION_ID],
                    after=after,
                    limit=MESSAGES_PER_READ,
                )
                write(b"".join(_line("message", row) for row in page))
                counts.messages += len(page)
                if progress is not None and page:
                    progress(len(page))
                if len(page) < MESSAGES_PER_READ:
                    break
                after = page[-1][_SEQ]
    return counts


def check_line(number: int, fields: Any) -> tuple[str, dict[str, Any]]:
    """Return a decoded line's kind and its columns, complete (a column the line leaves
    out, from a dump made before that column existed, takes its default); DumpError if it
    is not a line of a dump."""
    if not isinstance(fields, dict) or fields.get("kind") not in TABLES:
        raise DumpError(f"line {number}: not a user, session or message line")
    kind = fields.pop("kind")
    dumped = DUMPED[kind]
    unknown = set(fields) - {c.name for c in dumped}
    if unknown:
        raise DumpError(f"line {number}: {kind} has no column {sorted(unknown)[0]!r}")
    row = {}
    for column in dumped:
        value = fields.get(column.name, _default(column))
        if value is None and not column.nullable:
            raise DumpError(f"line {number}: {kind} needs {column.name}")
        row[column.name] = value
    return kind, row


def _default(column: Column[Any]) -> Any:
    default = column.default
    if default is not None and getattr(default, "is_scalar", False):
        return default.arg  # type: ignore[attr-defined]
    server = getattr(column.server_default, "arg", None)
    literal = getattr(server, "text", server)
    if isinstance(literal, str):  # a literal the store fills in: 0, '', …
        try:
            kind = column.type.python_type
        except NotImplementedError:
            kind = str
        if kind in (int, bool):
            return kind(int(literal))
        return literal.strip("'")
    return None


def import_rows(db: Db, rows: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
    """Upsert rows by kind (each a complete row: :func:`check_line`); the rows win."""
    for kind, batch in rows.items():
        batch = list(batch)
        if kind == "session":  # nothing of it digested: its messages are searched as they are
            batch = [{**row, **_NOTHING_DIGESTED} for row in batch]
        if batch:
            db.run_many(_upsert(TABLES[kind], db), batch)


def _upsert(table: Table, db: Db) -> Statement:
    key = (table.name, db.dialect.name)
    found = _UPSERTS.get(key)
    if found is None:
        found = _UPSERTS[key] = Statement(upsert(table, db.dialect))
    return found
