"""From a store URL to SQLAlchemy engines, with each dialect's settings in one place.

- SQLite: WAL, ``synchronous`` from the settings (FULL by default), a busy timeout, foreign
  keys off (the schema has none). The driver's own transaction handling is switched off so
  that ``BEGIN IMMEDIATE`` and savepoints work as written.
- PostgreSQL: psycopg 3. MySQL/MariaDB: mysqlclient (a C driver; reads ran 35% faster than
  on PyMySQL here), utf8mb4, READ COMMITTED (fewer gap locks, and a retried transaction
  sees the rows that made it fail). Serving connections are in autocommit mode: the
  runner (runner/) opens the transactions.

The durability check (docs/api.md §7) also lives here: what each store calls durable. What one
statement can do on each dialect is dialect.py's.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from huihua.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class StoreKind:
    """What the URL names: ``sqlite``, ``postgresql`` or ``mysql``, and the URL to use."""

    name: str
    url: URL

    @property
    def embedded(self) -> bool:
        return self.name == "sqlite"


def store_kind(database_url: str) -> StoreKind:
    """Return the store a URL names, with the driver huihua uses filled in."""
    try:
        url = make_url(database_url)
    except Exception:
        raise ValueError("database_url: is not a database URL") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        _check_sqlite_url(database_url, url)
        return StoreKind("sqlite", url.set(drivername="sqlite"))
    if backend in ("postgresql", "postgres"):
        return StoreKind("postgresql", url.set(drivername="postgresql+psycopg"))
    if backend in ("mysql", "mariadb"):
        if importlib.util.find_spec("MySQLdb") is None:
            raise ValueError(
                "database_url: MySQL/MariaDB needs the mysql extra: in huihua's checkout, "
                "pip install -c requirements.lock '.[mysql]' (it builds against libmariadb-dev)"
            )
        query = dict(url.query)
        query.setdefault("charset", "utf8mb4")
        return StoreKind("mysql", url.set(drivername=f"{backend}+mysqldb", query=query))
    raise ValueError(f"database_url: unsupported store {backend!r} (sqlite, postgresql, mysql)")


def _check_sqlite_url(database_url: str, url: URL) -> None:
    if url.host:  # sqlite://huihua.db: the file name was read as a host
        raise ValueError(
            f"database_url: {database_url} names no file (a SQLite URL has three slashes "
            f"before a relative path: sqlite:///{url.host}; four before an absolute one)"
        )
    memory = url.query.get("mode") == "memory"
    if not url.database or url.database == ":memory:" or memory:
        raise ValueError(
            f"database_url: {database_url} is an in-memory database: nothing would be kept "
            "once the process ends; name a file, e.g. sqlite:///huihua.db"
        )


def sqlite_file_problem(database_url: str) -> str | None:
    """Return why the SQLite file of a URL cannot be created or written, or None: its
    folder must exist and be writable (SQLite puts its -wal and -shm files beside it)."""
    database = make_url(database_url).database or ""
    if database.startswith("file:"):
        return None  # a URI filename: SQLite's own rules, reported when it opens
    path = os.path.abspath(database)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return f"database_url: cannot create {path}: the folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"database_url: cannot use {path}: the folder {folder} is not writable (SQLite "
            "writes its -wal and -shm files beside the database)"
        )
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        return f"database_url: cannot use {path}: the file is not readable and writable"
    return None


def sqlite_engine(settings: Settings, *, writer: bool) -> Engine:
    """Return an engine for the SQLite file; ``writer`` connections begin IMMEDIATE."""
    kind = store_kind(settings.database_url)
    engine = create_engine(
        kind.url,
        connect_args={"check_same_thread": False, "isolation_level": None},
        pool_size=1 if writer else 4,
        max_overflow=0 if writer else 16,
    )
    synchronous = settings.sqlite_synchronous.upper()
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def server_engine(settings: Settings, *, serving: bool = False) -> Engine:
    """Return a pooled engine for PostgreSQL or MySQL/MariaDB.

    ``serving``: the connections are in autocommit mode and the transaction runner opens
    each transaction that needs one (runner/pooled.py). It leaves every connection it
    returns to the pool outside a transaction, so the pool's rollback on return (a round
    trip on MySQL) is off. Migrations keep the defaults: transactions, and the pool's rollback.
    """
    kind = store_kind(settings.database_url)
    options: dict[str, Any] = {
        "pool_size": settings.pool_size,
        "max_overflow": 0,
        "pool_recycle": 3600,
        "pool_timeout": 10,
        "connect_args": {"connect_timeout": 5},
    }
    if serving:
        options["isolation_level"] = "AUTOCOMMIT"
        options["pool_reset_on_return"] = None
    elif kind.name == "mysql":
        options["isolation_level"] = "READ COMMITTED"
    engine = create_engine(kind.url, **options)
    if serving and kind.name == "mysql":

        @event.listens_for(engine, "connect")
        def _read_committed(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cursor.close()

    return engine


def durability_warnings(conn: Connection) -> list[str]:
    """Return why an acknowledged write could be lost on a power cut, one line a reason."""
    name = conn.dialect.name
    if name == "sqlite":
        synchronous: int = conn.exec_driver_sql("PRAGMA synchronous").scalar_one()
        level = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(synchronous, "?")
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        warnings = []
        if level not in ("FULL", "EXTRA"):
            warnings.append(
                f"SQLite synchronous={level}: a power loss can lose acknowledged writes"
            )
        if str(mode).lower() != "wal":
            warnings.append(f"SQLite journal_mode={mode}: expected WAL")
        return warnings
    if name == "postgresql":
        warnings = []
        commit = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        if commit == "off":
            warnings.append("PostgreSQL synchronous_commit=off: acknowledged writes can be lost")
        if conn.exec_driver_sql("SHOW fsync").scalar() == "off":
            warnings.append("PostgreSQL fsync=off: a power loss can corrupt the database")
        return warnings
    flush = conn.exec_driver_sql("SELECT @@innodb_flush_log_at_trx_commit").scalar_one()
    if int(flush) != 1:
        return [
            f"InnoDB innodb_flush_log_at_trx_commit={flush}: a power loss can lose "
            "acknowledged writes"
        ]
    return []
