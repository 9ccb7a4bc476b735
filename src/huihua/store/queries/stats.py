"""What ``huihua stats`` counts: users, sessions, messages, requests remembered, and the
oldest and newest activity (whole-store scans: an operator's command, not a request's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import func, select

from huihua.store.sql import Db, Statement
from huihua.store.tables import chat_messages, chat_sessions, idempotency_records, users

_COUNT = {
    table.name: Statement(select(func.count().label("n")).select_from(table))
    for table in (users, chat_sessions, chat_messages, idempotency_records)
}
_ACTIVITY = Statement(
    select(
        func.min(chat_sessions.c.updated_at).label("oldest"),
        func.max(chat_sessions.c.updated_at).label("newest"),
    )
)


class Totals(NamedTuple):
    users: int
    sessions: int
    messages: int
    idempotency_records: int
    oldest_activity: int | None  # ms: the least recently active session's last activity
    newest_activity: int | None


def totals(db: Db, counting: Callable[[str], None] | None = None) -> Totals:
    """Return the store's counts and the span of its sessions' activity. ``counting`` is
    told the table each count is about to scan (they take a while on a large store)."""
    counts = {}
    for name, statement in _COUNT.items():
        if counting is not None:
            counting(name)
        counts[name] = int(db.scalar(statement))
    if counting is not None:
        counting("the sessions' activity")
    oldest, newest = db.row(_ACTIVITY)
    return Totals(
        users=counts["users"],
        sessions=counts["chat_sessions"],
        messages=counts["chat_messages"],
        idempotency_records=counts["idempotency_records"],
        oldest_activity=oldest,
        newest_activity=newest,
    )
