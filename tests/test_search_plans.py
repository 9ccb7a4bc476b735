"""How each store runs a search (API.md §5.3): the walk of the user's messages by
``ix_chat_messages_newest`` comes first, newest first, and nothing is sorted, so a page
stops where it fills and the cost follows the user's history, never the store's size. In
one session the planner may instead read that session's messages by the primary key and
sort those that match: it still reads only the user's rows.

The store holds one user of many messages among many users of few, with the statistics
use gives it (``ANALYZE``), and every kind of search is explained: with and without a
cursor and a session, a query with letters (folded) and without. On PostgreSQL the plan
of a prepared statement is explained too as the generic plan, which knows neither the user
nor the limit: the one psycopg's prepared statements come to after a few runs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, insert, text

from huihua.config import Settings
from huihua.store import migrate
from huihua.store.dialect import capabilities
from huihua.store.engine import store_kind
from huihua.store.search.keyed import _BY_KEY_ARRAYS, _by_keys_statement
from huihua.store.search.walk import search_statement
from huihua.store.tables import chat_messages, chat_sessions, users

from .conftest import STORES

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from .conftest import Databases

HEAVY, SESSIONS, EACH = "heavy", 20, 100  # 2,000 messages
LIGHT, LIGHT_EACH = 300, 10
SEARCHES = [
    ("天气", None, None),
    ("天", (1_700_000_001_000, "s07", 50), None),
    ("Sunny", None, None),
    ("龘", None, None),
]
IN_SESSION = [("Sunny", None, "s03"), ("龘", (1_700_000_001_000, "s07", 50), "s07")]


def _seed(engine: Engine) -> None:
    now = 1_700_000_000_000
    words = ["今天天气", "Sunny day", "帮我写一首诗", "明天下雨", "你好"]
    user_rows, session_rows, message_rows = [], [], []

    def add_user(user_id: str, sessions: int, each: int) -> None:
        user_rows.append(
            {"user_id": user_id, "user_name": "u", "phone": "", "email": ""}
            | {"created_at": now, "updated_at": now}
        )
        for s in range(sessions):
            sid = f"s{s:02d}"
            session_rows.append(
                {"user_id": user_id, "session_id": sid, "session_title": "t"}
                | {"chat_count": each, "created_at": now, "updated_at": now, "last_seq": each}
            )
            for n in range(each):
                role = "ai" if n % 2 else "user"
                msg = f"{words[(s + n) % len(words)]} {n}"
                message_rows.append(
                    {"user_id": user_id, "session_id": sid, "seq": n + 1, "role": role}
                    | {"msg": msg, "created_at": now + s * each + n}
                )

    add_user(HEAVY, SESSIONS, EACH)
    for u in range(LIGHT):
        add_user(f"light{u:04d}", 1, LIGHT_EACH)
    with engine.begin() as conn:
        conn.execute(insert(users), user_rows)
        conn.execute(insert(chat_sessions), session_rows)
        conn.execute(insert(chat_messages), message_rows)
    analyze = {
        "sqlite": ["ANALYZE"],
        "postgresql": ["VACUUM ANALYZE"],
        "mysql": [f"ANALYZE TABLE {t}" for t in ("users", "chat_sessions", "chat_messages")],
    }[engine.dialect.name]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for sql in analyze:
            conn.execute(text(sql))


@pytest.fixture(scope="module", params=STORES)
def engine(request: pytest.FixtureRequest, databases: Databases) -> Any:
    url = databases.create(request.param)
    migrate(Settings(database_url=url))
    made = create_engine(store_kind(url).url)
    _seed(made)
    yield made
    made.dispose()


def _explained(engine: Engine, sql: str, params: Any) -> str:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(" | ".join(map(str, row)) for row in cursor.fetchall())
    finally:
        raw.close()


def _generic_plan(engine: Engine, sql: str, params: dict[str, Any]) -> str:
    """PostgreSQL's generic plan of ``sql`` (psycopg's ``%(name)s`` parameters)."""
    names: list[str] = []

    def number(found: re.Match[str]) -> str:
        if found[1] not in names:
            names.append(found[1])
        return f"${names.index(found[1]) + 1}"

    prepared = re.sub(r"%\((\w+)\)s", number, sql)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute("PREPARE search AS " + prepared)
        values = ", ".join(
            "'" + v.replace("'", "''") + "'" if isinstance(v, str) else str(v)
            for v in (params[n] for n in names)
        )
        cursor.execute(f"EXPLAIN EXECUTE search({values})")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE search")
        cursor.execute("RESET plan_cache_mode")
        return plan
    finally:
        raw.close()


def _walks_first(kind: str, plan: str) -> None:
    if kind == "sqlite":
        lines = plan.splitlines()
        assert "message USING INDEX ix_chat_messages_newest (user_id=?" in lines[0], plan
        assert "TEMP B-TREE" not in plan, plan
    elif kind == "postgresql":
        assert "Sort" not in plan, plan
        walk = "Index Scan Backward using ix_chat_messages_newest on chat_messages message"
        assert walk in plan, plan
    else:
        first = plan.splitlines()[0]
        assert "message" in first and "ix_chat_messages_newest" in first, plan
        assert "filesort" not in plan and "temporary" not in plan, plan


def _reads_only_the_users_rows(kind: str, plan: str) -> None:
    if kind == "sqlite":
        assert "SCAN " not in plan, plan  # every table SEARCHed by a key
        assert (
            "message USING INDEX ix_chat_messages_newest (user_id=?" in plan
            or ("message USING INDEX sqlite_autoindex_chat_messages_1 (user_id=? AND session_id=?")
            in plan
        ), plan
    elif kind == "postgresql":
        assert "Seq Scan" not in plan, plan
        found = r"on chat_messages message .*\n +(Index|Recheck) Cond: \(+\(?user_id"
        assert re.search(found, plan), plan
    else:
        for row in plan.splitlines():
            access = row.split(" | ")[3]
            assert access in ("ref", "eq_ref", "range", "const"), plan


def _plans(
    engine: Engine, query: str, after: Any, session_id: str | None, *, tails: bool = False
) -> list[str]:
    """The plans of a search of HEAVY's (``tails``: of what the digest does not hold): as
    run, and on PostgreSQL the generic one too."""
    statement, params = search_statement(
        capabilities(engine.dialect), HEAVY, query, 21, after, session_id, tails=tails
    )
    compiled = statement.compiled(engine.dialect)
    bound = compiled.defaults | params
    args = compiled.pick(bound) if compiled.pick else bound
    plans = [_explained(engine, compiled.sql, args)]
    if engine.dialect.name == "postgresql":
        plans.append(_generic_plan(engine, compiled.sql, bound))
    return plans


def _kind(engine: Engine) -> str:
    return "mysql" if engine.dialect.name == "mariadb" else engine.dialect.name


@pytest.mark.parametrize(("query", "after", "session_id"), SEARCHES)
def test_a_search_walks_the_users_index_newest_first_and_sorts_nothing(
    engine: Engine, query: str, after: Any, session_id: str | None
) -> None:
    for plan in _plans(engine, query, after, session_id):
        _walks_first(_kind(engine), plan)


@pytest.mark.parametrize(("query", "after", "session_id"), IN_SESSION)
def test_a_search_in_one_session_reads_only_the_users_rows(
    engine: Engine, query: str, after: Any, session_id: str | None
) -> None:
    for plan in _plans(engine, query, after, session_id):
        _reads_only_the_users_rows(_kind(engine), plan)


def _reads_by_key(kind: str, plan: str) -> None:
    """Every table of the plan is read by a key that starts with the user."""
    if kind == "sqlite":
        for row in plan.splitlines():
            if row.startswith(("SCAN", "SEARCH")) or " SCAN " in row or "SEARCH " in row:
                assert "USING" in row and "(user_id=?" in row, plan
        key = "message USING INDEX sqlite_autoindex_chat_messages_1 (user_id=? AND session_id=?"
        assert key in plan, plan
    elif kind == "postgresql":  # (a small table of sessions may be read whole)
        assert "Seq Scan on chat_messages" not in plan, plan
        assert re.search(
            r"on chat_messages message .*\n +Index Cond: \(+user_id.*session_id", plan
        ), plan
    else:
        for row in plan.splitlines():
            access = row.split(" | ")[3]
            assert access in ("ref", "eq_ref", "range", "const"), plan
        assert re.search(r"\| message \| [a-z_]+ \| PRIMARY \|", plan), plan


@pytest.mark.parametrize(("query", "after", "session_id"), SEARCHES + IN_SESSION)
def test_a_search_of_what_the_digest_lacks_reads_each_session_by_its_key(
    engine: Engine, query: str, after: Any, session_id: str | None
) -> None:
    for plan in _plans(engine, query, after, session_id, tails=True):
        _reads_by_key(_kind(engine), plan)


def test_the_survivors_of_the_digest_are_read_each_by_its_key(engine: Engine) -> None:
    caps = capabilities(engine.dialect)
    keys = [(f"s{s:02d}", n) for s in range(0, SESSIONS, 3) for n in (1, 50)]
    if caps.binds_arrays:
        statement = _BY_KEY_ARRAYS
        params: dict[str, Any] = {"sids": [k[0] for k in keys], "seqs": [k[1] for k in keys]}
    else:
        statement = _by_keys_statement(len(keys), caps.keys_as_row_values)
        params = {f"sid_{i}": k[0] for i, k in enumerate(keys)}
        params |= {f"seq_{i}": k[1] for i, k in enumerate(keys)}
    compiled = statement.compiled(engine.dialect)
    bound = compiled.defaults | params | {"user_id": HEAVY}
    plan = _explained(engine, compiled.sql, compiled.pick(bound) if compiled.pick else bound)
    kind = _kind(engine)
    if kind == "sqlite":
        assert "MULTI-INDEX OR" in plan, plan
        assert "SCAN message" not in plan and "ix_chat_messages_newest" not in plan, plan
    elif kind == "postgresql":
        assert "Seq Scan on chat_messages" not in plan, plan
        assert re.search(r"on chat_messages message .*\n +Index Cond: \(+user_id.*seq", plan), plan
    else:
        assert re.search(r"\| message \| range \| [A-Za-z_,]+ \| PRIMARY \|", plan), plan
