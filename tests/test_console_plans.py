"""How SQLite and PostgreSQL run the operator's reads (docs/api.md §9): each walks an index of
its own and sorts nothing it pages (queries/console.py).

- /list_users walks ``ix_users_newest`` backwards, newest first, and stops at the page's
  last row; its query (the id's prefix, text in the name) is tested on the index's rows.
  A search is a scan of the users either way: where PostgreSQL expects few matches it
  reads the table once and sorts those instead.
  Each user's counts are keyed look-ups (the sessions' primary key, the user's newest
  message on ``ix_chat_messages_search``): never a scan of a table.
- /list_feedback walks ``ix_chat_messages_rated`` backwards (on both stores a partial
  index: only the rated replies are in it); a rating or ``since`` is tested on its rows;
  the title and the question are keyed look-ups.
- /usage_stats reads ranges of ``ix_chat_messages_day``, ``ix_users_newest``,
  ``ix_chat_messages_rated`` and ``ix_ai_usage_day``, from the index alone where the
  store can; only the groups (a day's, at most 366 of them) are sorted or hashed.

The store holds many users of few messages and one of many, with the statistics ``ANALYZE``
gives it. On PostgreSQL the generic plan of each prepared statement is explained as well
(psycopg's prepared statements come to it after a few runs). The plans are printed, so
``pytest -s`` shows them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, insert, text

from huihua.config import Settings
from huihua.store import migrate
from huihua.store.queries import console as cq
from huihua.store.sql import Statement
from huihua.store.tables import ai_usage, chat_messages, chat_sessions, users

from .test_search_plans import _explained, _generic_plan

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from .conftest import Databases

NOW = 1_790_000_000_000
USERS, EACH = 400, 10
HOUR = 3_600_000  # between one user's creation and the next's: 400 users over 17 days


def _seed(engine: Engine) -> None:
    user_rows, session_rows, message_rows, usage_rows = [], [], [], []
    for u in range(USERS):
        user_id = f"user{u:04d}"
        at = NOW + u * HOUR
        user_rows.append(
            {"user_id": user_id, "user_name": f"name {u}", "phone": "", "email": ""}
            | {"created_at": at, "updated_at": at}
        )
        session_rows.append(
            {"user_id": user_id, "session_id": "s1", "session_title": "t"}
            | {"chat_count": EACH, "created_at": at, "updated_at": at, "last_seq": EACH}
        )
        for n in range(EACH):
            role = "ai" if n % 2 else "user"
            rated = role == "ai" and (u + n) % 7 == 0
            message_rows.append(
                {"user_id": user_id, "session_id": "s1", "seq": n + 1, "role": role}
                | {"msg": f"text {n}", "created_at": at + n, "status": None}
                | {"rating": ("like" if n % 4 == 1 else "dislike") if rated else None}
                | {"rated_at": at + n if rated else None}
            )
        usage_rows.append(
            {"user_id": user_id, "day": f"2026-09-{1 + u % 28:02d}", "model": "m"}
            | {"prompt_tokens": 1, "completion_tokens": 2}
        )
    with engine.begin() as conn:
        conn.execute(insert(users), user_rows)
        conn.execute(insert(chat_sessions), session_rows)
        conn.execute(insert(chat_messages), message_rows)
        conn.execute(insert(ai_usage), usage_rows)
    analyze = {"sqlite": "ANALYZE", "postgresql": "VACUUM ANALYZE"}[engine.dialect.name]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(analyze))


@pytest.fixture(scope="module", params=("sqlite", "postgresql"))
def engine(request: pytest.FixtureRequest, databases: Databases) -> Any:
    from huihua.store.engine import store_kind

    url = databases.create(request.param)
    migrate(Settings(database_url=url))
    made = create_engine(store_kind(url).url)
    _seed(made)
    yield made
    made.dispose()


def _plans(engine: Engine, statement: Statement, **params: Any) -> list[str]:
    compiled = statement.compiled(engine.dialect)
    bound = compiled.defaults | params
    args = compiled.pick(bound) if compiled.pick else bound
    plans = [_explained(engine, compiled.sql, args)]
    if engine.dialect.name == "postgresql":
        plans.append(_generic_plan(engine, compiled.sql.replace("%%", "%"), bound))
    for plan in plans:
        print(f"\n-- {engine.dialect.name}\n{compiled.sql}\n{plan}")
    return plans


AFTER_USER = {"after_at": NOW + 200 * HOUR, "after_id": "user0200"}
MATCH = {"prefix_len": 6, "prefix": "user02", "pattern": "%name 2%"}
USER_PAGES = [
    ((False, False), {}),
    ((False, True), AFTER_USER),
    ((True, False), MATCH),
    ((True, True), AFTER_USER | MATCH),
]


@pytest.mark.parametrize(("key", "params"), USER_PAGES, ids=str)
def test_list_users_walks_ix_users_newest_and_sorts_nothing(
    engine: Engine, key: tuple[bool, bool], params: dict[str, Any]
) -> None:
    for plan in _plans(engine, cq._LIST_USERS[key], limit=21, **params):
        if engine.dialect.name == "sqlite":
            assert re.search(r"(SCAN|SEARCH) users USING INDEX ix_users_newest", plan), plan
            assert "TEMP B-TREE" not in plan, plan
            assert not re.search(r"SCAN (s|q)\b", plan), plan  # the counts: keyed look-ups
        elif key[0] and "Seq Scan on users" in plan:
            # A search PostgreSQL expects few users to match: the table read once, its
            # matches sorted (a scan either way; the counts still keyed look-ups).
            assert "Seq Scan on chat_" not in plan, plan
        else:
            assert "Index Scan Backward using ix_users_newest on users" in plan, plan
            assert "Sort" not in plan and "Seq Scan" not in plan, plan


FEEDBACK_PAGES = [
    ((False, False, False), {}),
    ((True, False, False), {"rating": "dislike"}),
    ((False, True, False), {"since": NOW + 100 * HOUR}),
    ((False, True, False), {"since": NOW + 390 * HOUR}),
    (
        (True, True, True),
        {"rating": "like", "since": NOW}
        | {"after_at": NOW + 300 * HOUR + 5, "after_user": "user0300", "after_session": "s1"}
        | {"after_seq": 6},
    ),
]


@pytest.mark.parametrize(("key", "params"), FEEDBACK_PAGES, ids=str)
def test_list_feedback_walks_ix_chat_messages_rated_and_sorts_nothing(
    engine: Engine, key: tuple[bool, bool, bool], params: dict[str, Any]
) -> None:
    for plan in _plans(engine, cq._feedback(*key), limit=21, **params):
        if engine.dialect.name == "sqlite":
            walk = r"(SCAN|SEARCH) chat_messages USING INDEX ix_chat_messages_rated"
            assert re.search(walk, plan), plan
            assert "TEMP B-TREE" not in plan, plan
            assert not re.search(r"SCAN (s|q)\b", plan), plan
        elif key[1] and "Bitmap Index Scan on ix_chat_messages_rated" in plan:
            # A recent ``since`` PostgreSQL expects few rows after: that range of the
            # index, its rows sorted (no more than the ratings since then).
            assert "Seq Scan" not in plan, plan
        else:
            walk = "Index Scan Backward using ix_chat_messages_rated on chat_messages"
            assert walk in plan, plan
            assert "Sort" not in plan and "Seq Scan" not in plan, plan


FIGURES = {
    "messages": "ix_chat_messages_day",
    "replies": "ix_chat_messages_day",
    "new_users": "ix_users_newest",
    "ratings": "ix_chat_messages_rated",
}


@pytest.mark.parametrize("name", cq.DAY_FIGURES)
def test_a_days_figures_read_a_range_of_their_index(engine: Engine, name: str) -> None:
    statement = cq._by_day(name, 8 * 3_600_000)
    for plan in _plans(engine, statement, start=NOW, end=NOW + 86_400_000):
        assert FIGURES[name] in plan, plan
        if engine.dialect.name == "sqlite":
            assert re.search(rf"SEARCH \w+ USING COVERING INDEX {FIGURES[name]}", plan), plan
        else:
            assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize(
    ("statement", "index", "params"),
    [
        (cq._ACTIVE_USERS, "ix_chat_messages_day", {"start": NOW, "end": NOW + 86_400_000}),
        (cq._STREAMING, "ix_chat_messages_day", {"start": NOW, "end": NOW + 86_400_000}),
        (cq._TOKENS, "ix_ai_usage_day", {"first": "2026-09-01", "last": "2026-09-07"}),
    ],
    ids=("active_users", "streaming", "tokens"),
)
def test_the_other_figures_read_a_range_of_their_index(
    engine: Engine, statement: Statement, index: str, params: dict[str, Any]
) -> None:
    for plan in _plans(engine, statement, **params):
        assert index in plan, plan
        if engine.dialect.name == "sqlite":
            assert re.search(rf"SEARCH \w+ USING (COVERING )?INDEX {index}", plan), plan
        else:
            assert "Seq Scan" not in plan, plan
