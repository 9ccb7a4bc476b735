"""How the transaction runner sorts a driver's exceptions: run again, unavailable, or neither.

- Run the transaction again from the start: a serialization failure or a deadlock
  (PostgreSQL SQLSTATE 40001, 40P01; MySQL/MariaDB errors 1213, 1205 — Galera reports a
  certification conflict at COMMIT as 1213), or an integrity error (a concurrent twin
  inserted the same key first; run again, the write finds it).
- Unavailable: the store cannot be reached or used right now (the driver's operational and
  interface errors, SQLAlchemy's when a pooled connection cannot be checked out). The
  client is answered ok 8, "nothing was written, retry is safe".
- Neither: the error goes up as it is (the app logs it and answers ok 9).
"""

from __future__ import annotations

import logging

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from huihua import logs
from huihua.errors import StorageUnavailable

log = logging.getLogger("huihua.store")

UNAVAILABLE = "storage: unavailable; nothing was written, retry is safe"
# PostgreSQL SQLSTATEs and MySQL error numbers that mean "run the transaction again".
RETRY_SQLSTATES = frozenset({"40001", "40P01"})
RETRY_MYSQL = frozenset({1213, 1205})


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
            log.warning("store unavailable: %s", logs.error_classes(error))  # no message
            failure = StorageUnavailable(UNAVAILABLE)
            failure.__cause__ = error
            return failure
        return error
