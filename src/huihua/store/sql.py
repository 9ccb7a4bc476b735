"""Statements written once in SQLAlchemy Core, compiled once per dialect, run on the driver.

Core keeps the SQL portable; running a Core statement through a SQLAlchemy ``Connection``
costs more than the query itself on the request path (measured here: a 51-row read took
217 µs that way and 74 µs on the bare sqlite3 cursor). So each :class:`Statement` is
compiled once per dialect to its SQL text and parameter order, and :class:`Db` runs that
text on the DBAPI cursor of the transaction the runner opened. Rows come back as named
tuples; where ids come back as bytes (MySQL/MariaDB's VARBINARY: ``db.caps.binary_ids``)
they are decoded here.
"""

from __future__ import annotations

import operator
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from huihua.store.dialect import Capabilities, capabilities


class _Compiled:
    __slots__ = ("defaults", "names", "pick", "row", "sql")

    def __init__(self, clause: ClauseElement, dialect: Dialect) -> None:
        # DML only here: what SQLAlchemy compiles it with is an SQLCompiler.
        compiled = cast("SQLCompiler", clause.compile(dialect=dialect))
        self.sql: str = compiled.string
        # Positional styles (SQLite's qmark) need the parameters in order; named styles
        # (psycopg) take the mapping as it is.
        self.names: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if compiled.positional else None
        )
        # Parameters SQLAlchemy adds with a value of its own (SQLite's ``OFFSET 0``).
        self.defaults = {
            name: bind.value
            for name, bind in ((compiled.bind_names[b], b) for b in compiled.binds.values())
            if bind.value is not None
        }
        # The parameters in order, taken from the mapping in one C call.
        self.pick = _picker(self.names) if self.names is not None else None
        columns = getattr(clause, "selected_columns", None)
        if columns is None:
            columns = getattr(clause, "_returning", None) or ()
        keys = [c.key for c in columns]
        # A namedtuple class made at run time: mypy cannot know its fields, hence Any.
        self.row: Any = namedtuple("Row", keys) if keys else None


def _picker(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if not names:
        return lambda params: ()
    if len(names) == 1:
        name = names[0]
        return lambda params: (params[name],)
    return operator.itemgetter(*names)


class Statement:
    """A Core statement with named bind parameters, compiled lazily per dialect."""

    __slots__ = ("_by_dialect", "clause")

    def __init__(self, clause: ClauseElement) -> None:
        self.clause = clause
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = _Compiled(self.clause, dialect)
        return found


def _decode_bytes(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.decode() if type(v) is bytes else v for v in row)


class Db:
    """A driver connection inside a transaction the runner opened; runs :class:`Statement`s.

    Use cases and store functions receive one; none of them commits.
    """

    __slots__ = (
        "_begin",
        "_binary_ids",
        "_cursor",
        "_dialect_name",
        "caps",
        "connection",
        "dialect",
        "opened",
    )

    def __init__(
        self,
        connection: Any,
        dialect: Dialect,
        *,
        caps: Capabilities | None = None,
        begin: str | None = None,
    ) -> None:
        """``caps``: what the dialect can do (dialect.py; the runner passes the store's).
        ``begin``: the connection is in autocommit mode, and this SQL opens the transaction
        before the first statement (None: the runner already opened it, or the driver does)."""
        self.connection = connection
        self.dialect = dialect
        self._dialect_name = dialect.name
        self.caps = caps if caps is not None else capabilities(dialect)
        self._binary_ids = self.caps.binary_ids
        self._cursor = connection.cursor()
        self._begin = begin
        self.opened = False  # whether this Db sent ``begin``: a transaction to commit

    def _compiled(self, statement: Statement) -> _Compiled:
        # Statement.compiled without its call, once compiled (as it almost always is)
        return statement._by_dialect.get(self._dialect_name) or statement.compiled(self.dialect)

    def alone(self, statement: Statement, **params: Any) -> list[tuple[Any, ...]]:
        """Run a statement that is a whole unit of work by itself; return its rows as tuples.

        On an autocommit connection with no transaction open yet it runs as its own
        transaction: one round trip, nothing to commit. Otherwise it joins the open one.
        """
        self._run(self._compiled(statement), params)
        found = self._cursor.fetchall()
        return [_decode_bytes(r) for r in found] if self._binary_ids else found

    def begin_now(self, statements: tuple[str, ...]) -> None:
        """Open the transaction now with these statements, whatever ``begin`` was (a
        snapshot must be taken before the unit of work's first statement)."""
        for sql in statements:
            self._cursor.execute(sql)
        self._begin = None
        self.opened = True

    def _open(self) -> None:
        if self._begin is not None:
            self._cursor.execute(self._begin)
            self._begin = None
            self.opened = True

    def _execute(self, statement: Statement, params: Mapping[str, Any]) -> _Compiled:
        # _open, _compiled and _run inlined: a statement of the request path is three
        # calls fewer (read 374,281 -> 373,069 instructions)
        if self._begin is not None:
            self._open()
        compiled = statement._by_dialect.get(self._dialect_name) or statement.compiled(self.dialect)
        if compiled.defaults:
            params = {**compiled.defaults, **params}
        pick = compiled.pick
        self._cursor.execute(compiled.sql, params if pick is None else pick(params))
        return compiled

    def _run(self, compiled: _Compiled, params: Mapping[str, Any]) -> None:
        if compiled.defaults:
            params = {**compiled.defaults, **params}
        pick = compiled.pick
        self._cursor.execute(compiled.sql, params if pick is None else pick(params))

    def tuples(self, statement: Statement, **params: Any) -> list[tuple[Any, ...]]:
        """Return every row the statement selects, as plain tuples (for long result sets)."""
        # alone's body, not a call of it that packs the parameters again (read
        # 373,069 -> 368,377 instructions)
        if self._begin is not None:
            self._open()
        self._run(self._compiled(statement), params)
        found = self._cursor.fetchall()
        return [_decode_bytes(r) for r in found] if self._binary_ids else found

    def binary_tuples(self, statement: Statement, **params: Any) -> list[tuple[Any, ...]]:
        """Return every row as :meth:`tuples` does, but with bytes kept as bytes (binary
        values, where ids read as bytes on MySQL/MariaDB are decoded elsewhere)."""
        self._open()
        self._run(self._compiled(statement), params)
        rows: list[tuple[Any, ...]] = self._cursor.fetchall()
        return rows

    def row(self, statement: Statement, **params: Any) -> Any:
        """Return the first row the statement selects, or None."""
        compiled = self._execute(statement, params)
        found = self._cursor.fetchone()
        if found is None:
            return None
        if self._cursor.fetchone() is not None:  # drain, so the cursor can be reused
            self._cursor.fetchall()
        return compiled.row._make(_decode_bytes(found) if self._binary_ids else found)

    def scalar(self, statement: Statement, **params: Any) -> Any:
        """Return the first column of the first row, or None."""
        # row's body without its named tuple, and not through a call of it that packs the
        # parameters again (with the two changes before it in Db: add 537,355 -> 524,682
        # instructions)
        self._execute(statement, params)
        found = self._cursor.fetchone()
        if found is None:
            return None
        if self._cursor.fetchone() is not None:  # drain, so the cursor can be reused
            self._cursor.fetchall()
        value = found[0]
        return value.decode() if self._binary_ids and type(value) is bytes else value

    def run(self, statement: Statement, **params: Any) -> int:
        """Execute a write; return how many rows it touched."""
        self._execute(statement, params)
        count: int = self._cursor.rowcount
        return count

    def run_many(self, statement: Statement, rows: list[Mapping[str, Any]]) -> None:
        """Execute a write once per row (the driver's executemany: a batch of rows)."""
        self._open()
        compiled = self._compiled(statement)
        pick = compiled.pick
        if compiled.defaults:
            rows = [{**compiled.defaults, **row} for row in rows]
        self._cursor.executemany(compiled.sql, [pick(r) for r in rows] if pick else rows)

    def run_for_id(self, statement: Statement, **params: Any) -> tuple[int, int]:
        """Execute a write; return how many rows it touched and the id it set (MySQL's
        ``LAST_INSERT_ID(expr)``, which the server sends back with the write's answer)."""
        self._execute(statement, params)
        return self._cursor.rowcount, self._cursor.lastrowid

    def execute_text(self, sql: str) -> Any:
        """Run SQL text with no parameters; return the first column of its first row."""
        self._cursor.execute(sql)
        found = self._cursor.fetchone() if self._cursor.description else None
        return None if found is None else found[0]
