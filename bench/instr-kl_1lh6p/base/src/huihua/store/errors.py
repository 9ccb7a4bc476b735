"""How the transaction runner sorts a driver's exceptions: run again, unavailable, or neither.

- Run the transaction again from the start: a serialization failure or a deadlock
  (PostgreSQL SQLSTATE 40001, 40P01; MySQL/MariaDB errors 1213, 1205 — Galera reports a
  certification conflict at COMMIT as 1213), or an integrity error (a concurrent twin
  inserted the same key first; run again, the write finds it).
- Unavailable: the store cannot be reached or used right now (the driver's operational and
  interface errors, SQLAlchemy's when a pooled connection cannot be checked out). The
  client is answered ok 8, "nothing was written, retry is safe".
- Neither: the error goes up as it is (the app logs it and answers ok 9).

Among the unavailable, a full disk (SQLite ``SQLITE_FULL``, PostgreSQL 53100, MySQL 1021
and 1114) also puts the store in a "refusing writes since … because …" state that
``/healthz`` reports (ok 8), until a write commits again (``wrote``). Reads still work
meanwhile, so a health check that only reads would not see it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from huihua import logs
from huihua.errors import StorageUnavailable
from huihua.timestamps import now_ms, rfc3339

log = logging.getLogger("huihua.store")

UNAVAILABLE = "storage: unavailable; nothing was written, retry is safe"
# PostgreSQL SQLSTATEs and MySQL error numbers that mean "run the transaction again".
RETRY_SQLSTATES = frozenset({"40001", "40P01"})
RETRY_MYSQL = frozenset({1213, 1205})
# "No room to write": SQLite's primary result code, PostgreSQL's disk_full, MySQL's
# ER_DISK_FULL and ER_RECORD_FILE_FULL (InnoDB's answer when its tablespace cannot grow).
SQLITE_FULL = 13
DISK_FULL_SQLSTATES = frozenset({"53100"})
DISK_FULL_MYSQL = frozenset({1021, 1114})


@dataclass(frozen=True)
class Refusing:
    """Since when the store refuses writes, and why (the error's classes and codes)."""

    since: str
    because: str


class ErrorKinds:
    """Sorts a driver's exceptions: retry the transaction, store unavailable, or neither."""

    def __init__(self, engine: Engine) -> None:
        dbapi = engine.dialect.loaded_dbapi
        self._integrity = dbapi.IntegrityError
        # The driver's own, and SQLAlchemy's when checking a connection out fails.
        self._unavailable = (
            dbapi.OperationalError,
            dbapi.InterfaceError,
            sa_exc.DBAPIError,
            sa_exc.TimeoutError,
            sa_exc.DisconnectionError,
        )
        self.refusing: Refusing | None = None  # set on a full disk, cleared by a commit

    def retryable(self, error: BaseException) -> bool:
        """Return whether a failed transaction should be run again from the start."""
        if isinstance(error, self._integrity):
            return True  # a concurrent twin inserted the same key first
        if getattr(error, "sqlstate", None) in RETRY_SQLSTATES:
            return True
        args = getattr(error, "args", ())
        return bool(args) and args[0] in RETRY_MYSQL

    def unavailable(self, error: BaseException) -> bool:
        """Return whether an error means the store cannot be reached or used right now."""
        return isinstance(error, self._unavailable)

    def failure(self, error: BaseException) -> BaseException:
        """Return what a failed use case answers: its own error, or ok 8 for the store's."""
        if self.unavailable(error):
            because = logs.error_classes(error)  # no message: it can quote a value
            if disk_full(error):
                if self.refusing is None:
                    self.refusing = Refusing(rfc3339(now_ms()), because)
                log.warning("store refusing writes: disk full: %s", because)
            else:
                log.warning("store unavailable: %s", because)
            failure = StorageUnavailable(UNAVAILABLE)
            failure.__cause__ = error
            return failure
        return error

    def wrote(self) -> None:
        """Note that a write committed: the store takes writes (again)."""
        if self.refusing is not None:
            log.warning("store takes writes again (refused them since %s)", self.refusing.since)
            self.refusing = None


def disk_full(error: BaseException | None) -> bool:
    """Return whether an error, or one it was caused by, says the disk is full."""
    seen = 0
    while error is not None and seen < 8:
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == SQLITE_FULL:
            return True
        if getattr(error, "sqlstate", None) in DISK_FULL_SQLSTATES:
            return True
        if type(error).__module__.split(".", 1)[0] == "MySQLdb":
            args = error.args
            if args and type(args[0]) is int and args[0] in DISK_FULL_MYSQL:
                return True
        error = getattr(error, "orig", None) or error.__cause__
        seen += 1
    return False
