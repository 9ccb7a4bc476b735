"""The store: where users, sessions and messages are kept, behind one small interface.

``open_store(settings)`` picks SQLite, PostgreSQL or MySQL/MariaDB from the URL, checks the
schema (the embedded SQLite file is created or upgraded on the spot; a server database must
already be current: ``huihua migrate``) and returns a :class:`Store` whose ``write``,
``read`` and ``snapshot`` run use cases through the transaction runner.

- ``tables.py``: the schema, with a docstring on the data model.
- ``queries/``: all the SQL, as functions of a :class:`~huihua.store.sql.Db`, a module per
  noun; ``sql.py`` compiles each statement once per dialect and runs it on the driver.
- ``runner/``: the transaction runner, the one place that begins, commits and retries
  (SQLite group commit; a pool for the server stores); ``errors.py`` sorts the drivers'
  errors into "run again", "unavailable" and the rest.

The dialects' differences live in two places. ``engine.py``: how each store is connected
to (pragmas, isolation, autocommit) and what it calls durable. ``dialect.py``: what one
statement can do on each (``UPDATE … RETURNING``, MySQL's ``LAST_INSERT_ID`` trick,
PostgreSQL's one-statement append and page join, VARBINARY ids, how a snapshot opens), as
one :class:`~huihua.store.dialect.Capabilities` made when the store opens and carried by
every ``Db`` as ``db.caps``. Queries and the runner branch on it, never on a dialect's name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from huihua import migrations
from huihua.config import Settings
from huihua.store.engine import (
    durability_warnings,
    server_engine,
    sqlite_engine,
    sqlite_file_problem,
    store_kind,
)
from huihua.store.errors import Refusing
from huihua.store.runner import PooledRunner, SqliteRunner
from huihua.store.sql import Db
from huihua.store.streams import snapshot_chunks

T = TypeVar("T")


class StoreError(Exception):
    """The store cannot serve: unreachable, or its schema is not the one huihua needs."""


class Store:
    """A store opened for serving: ``write`` and ``read`` run use cases."""

    def __init__(self, kind: str, runner: SqliteRunner | PooledRunner, warnings: list[str]) -> None:
        self.kind = kind
        self.warnings = warnings
        self._runner = runner

    async def write(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` in a write transaction; return once it committed."""
        return await self._runner.write(fn)

    async def read(self, fn: Callable[[Db], T], *, long: bool = False) -> T:
        """Run ``fn``, each of its statements its own transaction as a rule: no read needs
        two statements to agree (``long``: off the event loop on every store)."""
        return await self._runner.read(fn, long=long)

    async def snapshot(self, fn: Callable[[Db], T]) -> T:
        """Run ``fn`` off the event loop in one read-only transaction that sees the store as
        of one moment, whatever commits meanwhile (REPEATABLE READ, or SQLite's WAL
        snapshot): for long reads that must agree with themselves, such as an export."""
        return await self._runner.snapshot(fn)

    def snapshot_chunks(self, produce: Callable[[Db], Iterator[bytes]]) -> AsyncIterator[bytes]:
        """Return the chunks the generator ``produce(db)`` makes inside one snapshot (as
        :meth:`snapshot`), as they come, a few in flight at most (streams.py)."""
        return snapshot_chunks(self.snapshot, produce)

    @property
    def reads_one_at_a_time(self) -> bool:
        """Whether short reads run one after another (SQLite runs them inline on the event
        loop), so that the memory of several is never held at once."""
        return isinstance(self._runner, SqliteRunner)

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the store answers a query."""
        await self._runner.read(_select_one, long=True)

    def instrument(
        self,
        *,
        on_group: Callable[[int], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
    ) -> None:
        """Tell ``on_group`` the size of each SQLite group commit, and ``on_error`` each
        failure of the store as (kind, driver code) (store/errors.py): for metrics."""
        if isinstance(self._runner, SqliteRunner):
            self._runner.on_group = on_group
        self._runner.errors.on_error = on_error

    @property
    def refusing_writes(self) -> Refusing | None:
        """Since when and why the store refuses writes (a full disk); None while it takes
        them. Cleared by the next write that commits."""
        return self._runner.refusing_writes

    @property
    def runner(self) -> SqliteRunner | PooledRunner:
        """The transaction runner (tests reach its seams through it: ``inject_fault``)."""
        return self._runner

    def close(self) -> None:
        """Finish pending writes and release every connection."""
        self._runner.close()


def _select_one(db: Db) -> Any:
    return db.execute_text("SELECT 1")


def migrate(settings: Settings) -> tuple[str | None, str]:
    """Bring the store's schema to this version's; return (revision before, after)."""
    kind = store_kind(settings.database_url)
    if kind.embedded:
        problem = sqlite_file_problem(settings.database_url)
        if problem is not None:
            raise StoreError(problem)
    engine = sqlite_engine(settings, writer=True) if kind.embedded else server_engine(settings)
    try:
        return migrations.upgrade(engine)
    except migrations.UnknownRevision as error:
        raise StoreError(_newer_schema(str(error))) from None
    except sa_exc.DBAPIError as error:
        # a server unreachable, or a SQLite file that cannot be opened or is no database
        if not (kind.embedded or isinstance(error, sa_exc.OperationalError)):
            raise
        raise StoreError(_cannot_open(kind.embedded, settings, error)) from None
    finally:
        engine.dispose()


def verify(settings: Settings) -> list[str]:
    """Make the store ready to serve (SQLite: create or upgrade the schema); return the
    durability warnings. Raise StoreError when a server database is unreachable or its
    schema is not current."""
    kind = store_kind(settings.database_url)
    if kind.embedded:
        migrate(settings)
        engine = sqlite_engine(settings, writer=True)
    else:
        engine = server_engine(settings)
    try:
        if not kind.embedded:
            _check_schema(engine)
        return _warnings(engine)
    finally:
        engine.dispose()


def open_store(settings: Settings) -> Store:
    """Return the store the settings name, ready to serve; raise StoreError when it is not."""
    kind = store_kind(settings.database_url)
    if kind.embedded:
        migrate(settings)
        write_engine = sqlite_engine(settings, writer=True)
        warnings = _warnings(write_engine)
        runner: SqliteRunner | PooledRunner = SqliteRunner(
            write_engine, sqlite_engine(settings, writer=False), settings.group_commit_max
        )
        return Store(kind.name, runner, warnings)
    engine = server_engine(settings, serving=True)
    try:
        _check_schema(engine)
        warnings = _warnings(engine)
    except BaseException:
        engine.dispose()
        raise
    runner = PooledRunner(engine, settings.pool_size, retry_budget_ms=settings.retry_budget_ms)
    return Store(kind.name, runner, warnings)


def _check_schema(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            current = migrations.current_revision(conn)
    except sa_exc.OperationalError as error:
        raise StoreError(f"cannot reach the store: {_reason(error)}") from None
    head = migrations.head_revision()
    if current is not None and not migrations.known(current):
        raise StoreError(_newer_schema(current))
    if current != head:
        raise StoreError(
            f"the database schema is at revision {current or 'none'}, this huihua needs "
            f"{head}: run `huihua migrate` with the same database URL first"
        )


def _warnings(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return durability_warnings(conn)


def _newer_schema(revision: str) -> str:
    return (
        f"the database schema is at revision {revision}, which this huihua "
        f"({migrations.head_revision()} and older) does not know: a newer huihua made it; "
        "run that version, or restore a backup made before the upgrade"
    )


def _cannot_open(embedded: bool, settings: Settings, error: sa_exc.DBAPIError) -> str:
    if embedded:
        return f"cannot open the SQLite store {settings.database_url}: {_reason(error)}"
    reason = _reason(error)
    if "does not exist" in reason or "Unknown database" in reason:
        reason += " (`huihua migrate --create-database` makes it)"
    return f"cannot reach the store: {reason}"


def _reason(error: sa_exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
