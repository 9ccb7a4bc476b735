"""What each SQL dialect can do that the others cannot, decided once when the store opens.

The statements are portable Core (sql.py compiles them per dialect); where the stores
differ in what one statement can do, queries and the runner ask a :class:`Capabilities`,
carried by every :class:`~huihua.store.sql.Db` as ``db.caps``, and never a dialect's name.
How each store is connected to and what it calls durable is engine.py's. The SQL each
dialect writes its own way is here too, as Core constructs the statements use: where a text
contains another (:class:`sql_position`, :class:`folded_position`), a join read in the order
written (:class:`ThenJoin`), a JSON array as text (:class:`json_list`).

========================================  ========  ==========  =============
capability                                SQLite    PostgreSQL  MySQL/MariaDB
========================================  ========  ==========  =============
``update_returning``                      ≥ 3.35    yes         no
``bump_returns_last_insert_id``           no        no          yes
``append_in_one_statement``               no        yes         no
``session_page_as_join``                  no        yes         no
``binary_ids``                            no        no          yes
``search_reads_lateral``                  no        yes         no
``binds_arrays``                          no        yes         no
``keys_as_row_values``                    no        no          yes
========================================  ========  ==========  =============
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Join, Table, Text, bindparam
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement

MYSQL_NAMES = ("mysql", "mariadb")  # SQLAlchemy's names of the MySQL/MariaDB dialects


@dataclass(frozen=True)
class Capabilities:
    """The differences between the dialects that the SQL huihua runs depends on."""

    update_returning: bool
    """``UPDATE … RETURNING``: a session's bump hands back its new ``seq`` itself."""

    bump_returns_last_insert_id: bool
    """No RETURNING on UPDATE, but ``LAST_INSERT_ID(expr)`` sends the new ``seq`` back in
    the UPDATE's own answer (MySQL/MariaDB): one round trip, not a second SELECT."""

    append_in_one_statement: bool
    """Data-modifying CTEs: add_chat to an existing session is one statement that bumps
    the session, stores the message and its idempotency record (PostgreSQL)."""

    session_page_as_join: bool
    """A page of messages is read with its session's row in one join. Pays where a
    statement costs a round trip and the join needs no sort (PostgreSQL); SQLite has no
    round trip to save and MariaDB sorts the join in a temporary table."""

    binary_ids: bool
    """Ids are VARBINARY and come back from the driver as bytes, decoded by ``Db``."""

    binds_arrays: bool
    """A list of values is one array parameter (``= ANY(:list)``, ``unnest(:a, :b)``):
    planned at once, where a list of a hundred parameters cost PostgreSQL some 2 ms of
    planning each time (the search digest's parts, its survivors' keys)."""

    keys_as_row_values: bool
    """A list of keys is read as ``(a, b) IN ((…), …)`` (MariaDB: a quarter of the time of
    an OR of each key's terms; SQLite reads the user's whole range for it, and takes the OR
    key by key)."""

    search_reads_lateral: bool
    """A search of the tails reads each session's messages by a ``LATERAL`` subquery
    behind ``OFFSET 0``, so the planner cannot begin anywhere but the sessions (PostgreSQL,
    whose prepared statements' generic plans began elsewhere and sorted). MariaDB has no
    LATERAL; there and on SQLite the join's order is kept by ``STRAIGHT_JOIN`` and
    ``CROSS JOIN`` (store/search/walk.py)."""

    snapshot_begin: tuple[str, ...]
    """The SQL that opens a read-only transaction at REPEATABLE READ (one snapshot for
    every statement in it) on a connection in autocommit mode, and leaves the connection's
    own settings as they were once it ends."""


def capabilities(dialect: Dialect) -> Capabilities:
    """Return what this dialect can do."""
    return _capabilities(dialect.name, bool(dialect.update_returning))


@functools.cache
def _capabilities(name: str, update_returning: bool) -> Capabilities:
    mysql = name in MYSQL_NAMES
    postgresql = name == "postgresql"
    snapshot: tuple[str, ...]
    if postgresql:
        snapshot = ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",)
    elif mysql:
        # Without SESSION, SET TRANSACTION sets the next transaction's level only: the
        # serving connection stays at READ COMMITTED (engine.py).
        snapshot = (
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        )
    else:
        # SQLite in WAL: a read transaction sees the database as of its first read.
        snapshot = ("BEGIN",)
    return Capabilities(
        update_returning=update_returning,
        bump_returns_last_insert_id=mysql,
        append_in_one_statement=postgresql,
        session_page_as_join=postgresql,
        binary_ids=mysql,
        search_reads_lateral=postgresql,
        binds_arrays=postgresql,
        keys_as_row_values=mysql,
        snapshot_begin=snapshot,
    )


def upsert(table: Table, dialect: Dialect) -> ClauseElement:
    """Return an INSERT of one row of ``table`` (each column bound to a parameter of its own
    name) that, when a row of the same primary key exists, overwrites that row's other
    columns instead: ``ON CONFLICT … DO UPDATE`` (SQLite, PostgreSQL) or ``ON DUPLICATE
    KEY UPDATE`` (MySQL/MariaDB). For ``huihua import``, where the file wins."""
    values: dict[str, BindParameter[Any]] = {c.name: bindparam(c.name) for c in table.c}
    others = [c.name for c in table.c if not c.primary_key]
    if dialect.name in MYSQL_NAMES:
        mysql_insert = mysql.insert(table).values(values)
        return mysql_insert.on_duplicate_key_update(
            {name: mysql_insert.inserted[name] for name in others}
        )
    if dialect.name == "postgresql":
        pg_insert = postgresql.insert(table).values(values)
        return pg_insert.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={name: pg_insert.excluded[name] for name in others},
        )
    insert = sqlite.insert(table).values(values)
    return insert.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={name: insert.excluded[name] for name in others},
    )


# SQL that each dialect writes its own way, as Core constructs the statements use.

_FOLD = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"


class sql_position(FunctionElement[int]):
    """Where the query (the second argument) starts in the text (the first), from 1; 0 if
    nowhere."""

    type = Integer()
    inherit_cache = True
    name = "position"


class folded_position(FunctionElement[int]):
    """:class:`sql_position` with A–Z folded to a–z in both (on MySQL/MariaDB, what ``LOWER``
    folds)."""

    type = Integer()
    inherit_cache = True
    name = "folded_position"


def _arguments(element: Any, compiler: Any, **kw: Any) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


@compiles(sql_position)
def _position_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"instr({text}, {query})"


@compiles(folded_position)
def _folded_position_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"instr(lower({text}), lower({query}))"


@compiles(sql_position, "postgresql")
def _position_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"strpos({text}, {query})"


@compiles(folded_position, "postgresql")
def _folded_position_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"strpos(translate({text}, {_FOLD}), translate({query}, {_FOLD}))"


@compiles(sql_position, *MYSQL_NAMES)
def _position_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"LOCATE(CAST({query} AS BINARY), CAST({text} AS BINARY))"


@compiles(folded_position, *MYSQL_NAMES)
def _folded_position_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    text, query = _arguments(element, compiler, **kw)
    return f"LOCATE(CAST(LOWER({query}) AS BINARY), CAST(LOWER({text}) AS BINARY))"


class ThenJoin(Join):
    """A join whose left side is read first, whatever the planner would choose: SQLite's
    ``CROSS JOIN`` and MySQL/MariaDB's ``STRAIGHT_JOIN`` keep their tables in the order
    written (elsewhere a plain ``JOIN``)."""

    inherit_cache = True


_THEN = {"sqlite": " CROSS JOIN ", "mysql": " STRAIGHT_JOIN ", "mariadb": " STRAIGHT_JOIN "}


@compiles(ThenJoin)
def _then_sql(element: Any, compiler: Any, asfrom: bool = False, **kw: Any) -> str:
    operator = _THEN.get(compiler.dialect.name, " JOIN ")
    left = element.left._compiler_dispatch(compiler, asfrom=True, **kw)
    right = element.right._compiler_dispatch(compiler, asfrom=True, **kw)
    return f"{left}{operator}{right} ON {element.onclause._compiler_dispatch(compiler, **kw)}"


class json_list(FunctionElement[str]):
    """A JSON array of the arguments, as text."""

    type = Text()
    inherit_cache = True
    name = "json_list"


@compiles(json_list)
def _json_list_sql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"json_array({compiler.process(element.clauses, **kw)})"  # SQLite, MySQL


@compiles(json_list, "postgresql")
def _json_list_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"CAST(json_build_array({compiler.process(element.clauses, **kw)}) AS TEXT)"
