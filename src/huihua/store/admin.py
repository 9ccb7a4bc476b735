"""What an operator's commands ask of a store beyond the queries: its size on disk, a
consistent copy of a SQLite file while a server writes to it, and a server database made
for huihua (``huihua migrate --create-database``).

Each store answers the size its own way (SQLite: the file with its -wal and -shm; the
server stores: what their catalogues say the database takes), so this module, like
engine.py, knows the dialects by name.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import URL, create_engine, text
from sqlalchemy import exc as sa_exc

from huihua.config import Settings
from huihua.store.engine import SQLITE_BUSY_TIMEOUT_MS, server_engine, store_kind

_SIZE_SQL = {
    "postgresql": "SELECT pg_database_size(current_database())",
    "mysql": (
        "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
        "WHERE table_schema = DATABASE()"
    ),
}


BACKUP_STEP_PAGES = 4096  # pages a step of a backup copies: 16 MiB of 4 KiB pages


class AdminError(Exception):
    """An operator's command cannot do what it was asked (the message says why)."""


def sqlite_path(settings: Settings) -> Path:
    """Return the file of a SQLite store; AdminError for another store."""
    kind = store_kind(settings.database_url)
    if not kind.embedded:
        raise AdminError(f"the store is {kind.name}, not a SQLite file")
    return Path(kind.url.database or "").resolve()


def size_on_disk(settings: Settings) -> int:
    """Return the bytes the store takes on disk (SQLite: the file with its -wal and -shm)."""
    kind = store_kind(settings.database_url)
    if kind.embedded:
        path = sqlite_path(settings)
        return sum(
            os.path.getsize(f)
            for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
            if f.exists()
        )
    engine = server_engine(settings)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(_SIZE_SQL[kind.name]).scalar() or 0)
    except sa_exc.OperationalError as error:
        raise AdminError(f"cannot reach the store: {str(error.orig).strip()}") from None
    finally:
        engine.dispose()


def backup_sqlite(
    settings: Settings, target: Path, progress: Callable[[int, int], None] | None = None
) -> tuple[int, float]:
    """Copy the SQLite store to ``target`` as it is at one moment, while a server may be
    writing to it; return the copy's size in bytes and the seconds it took. ``progress`` is
    told the pages copied and the pages in all after each step.

    SQLite's online backup API copies the pages step by step, all inside one read
    transaction that this connection holds from before the first step to after the last:
    in WAL mode the server's writes go on meanwhile, none of them is half in the copy, and
    none makes the copy start over (the connection sees no change until it ends). The copy
    is written beside ``target``, synced, then renamed onto it: ``target`` is either the
    whole copy or not there.
    """
    source_path = sqlite_path(settings)
    if not source_path.exists():
        raise AdminError(f"no SQLite store at {source_path}")
    target = target.resolve()
    if target.exists():
        raise AdminError(f"{target} exists; name a new file")
    if not target.parent.is_dir():
        raise AdminError(f"the folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial")
    started = time.perf_counter()
    source = sqlite3.connect(source_path, isolation_level=None)  # BEGIN and COMMIT are ours
    try:
        source.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the moment copied
        copy = sqlite3.connect(partial)
        try:

            def step(status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            source.backup(copy, pages=BACKUP_STEP_PAGES, progress=step)
            source.execute("COMMIT")
            copy.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
            problem = copy.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise AdminError(f"the copy does not check out: {problem}")
        finally:
            copy.close()
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.rename(partial, target)
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    return target.stat().st_size, time.perf_counter() - started


def create_database(settings: Settings) -> bool:
    """Make the PostgreSQL or MySQL/MariaDB database the settings name, if it is not there
    yet; return whether it was made. (A SQLite file is made by the migration itself.)

    The database is made through the same server and credentials, from the server's own
    database (PostgreSQL: ``postgres``; MySQL: none): MySQL's in ``utf8mb4``, whatever the
    server's default, so that every character of a message fits.
    """
    kind = store_kind(settings.database_url)
    if kind.embedded:
        return False
    name = kind.url.database
    if not name:
        raise AdminError("database_url: names no database to create")
    if kind.name == "postgresql":
        server = kind.url.set(database="postgres")
        exists = "SELECT 1 FROM pg_database WHERE datname = :name"
        create = "CREATE DATABASE {name}"
    else:
        url = kind.url  # the same, naming no database (set() cannot take one away)
        server = URL.create(
            url.drivername, url.username, url.password, url.host, url.port, None, url.query
        )
        exists = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"
        create = "CREATE DATABASE {name} CHARACTER SET utf8mb4"
    engine = create_engine(
        server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            if conn.execute(text(exists), {"name": name}).first() is not None:
                return False
            quoted = engine.dialect.identifier_preparer.quote_identifier(name)
            conn.execute(text(create.format(name=quoted)))
            return True
    except sa_exc.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise AdminError(f"cannot create the database {name!r}: {reason}") from None
    finally:
        engine.dispose()
