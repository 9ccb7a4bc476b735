"""How the transaction runner sorts a driver's exceptions: run again, unavailable, or neither.

- A conflict: run the transaction again from the start, within the runner's time budget
  (``HUIHUA_RETRY_BUDGET_MS``), then answer ok 8. Another transaction won, or the node
  could not take this one yet; the store itself is up. The codes, each named below:
  PostgreSQL SQLSTATE 40001 and 40P01 (CockroachDB answers 40001 too); MySQL/MariaDB 1213
  and 1205, and the ones a Galera node raises, 1047 and 1180.
- An integrity error: run again, a few times (``MAX_ATTEMPTS``): a concurrent twin
  inserted the same key first, and the next run finds it. One that persists goes up.
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
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from huihua import logs
from huihua.errors import HuihuaError, StorageUnavailable
from huihua.timestamps import now_ms, rfc3339

log = logging.getLogger("huihua.store")

UNAVAILABLE = "storage: unavailable; nothing was written, retry is safe"
BUSY = "storage: busy (conflicting writes, or a database node not ready); retry is safe"

# PostgreSQL SQLSTATEs that mean "run the transaction again".
SERIALIZATION_FAILURE = "40001"  # SERIALIZABLE lost a race; CockroachDB's restart error
DEADLOCK_DETECTED = "40P01"
RETRY_SQLSTATES = frozenset({SERIALIZATION_FAILURE, DEADLOCK_DETECTED})

# MySQL/MariaDB error numbers that mean "run the transaction again".
ER_LOCK_DEADLOCK = 1213  # InnoDB deadlock. Galera: a certification conflict at COMMIT (a
#   write set certified first on another node touched the same rows), and any statement of a
#   transaction a replicated write set aborted (brute-force abort) fails with it too.
ER_LOCK_WAIT_TIMEOUT = 1205  # innodb_lock_wait_timeout ran out waiting for a row lock
ER_UNKNOWN_COM_ERROR = 1047  # Galera: "WSREP has not yet prepared node for application
#   use": the node is not (yet, or no longer) in the primary component; nothing ran. Another
#   node may take the transaction, or this one once it has rejoined.
ER_ERROR_DURING_COMMIT = 1180  # Galera at COMMIT: the write set could not be replicated
#   (the node lost the cluster, a streaming fragment failed); rolled back here. If it did
#   commit elsewhere, the run again finds the write's idempotency record.
RETRY_MYSQL = frozenset(
    {ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, ER_UNKNOWN_COM_ERROR, ER_ERROR_DURING_COMMIT}
)
# Not retried: 1317 ER_QUERY_INTERRUPTED (what Galera answers to a client killed by
# KILL QUERY: an operator's decision, not a race) goes up as the store's failure.
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
        # Told of each failure as (kind, driver code): metrics (Store.instrument).
        self.on_error: Callable[[str, str], None] | None = None

    def note(self, kind: str, error: BaseException) -> None:
        """Tell ``on_error`` of a failure of this kind (``retried``, ``other``…)."""
        if self.on_error is not None:
            self.on_error(kind, driver_code(error))

    def retryable(self, error: BaseException) -> bool:
        """Return whether a failed transaction should be run again from the start."""
        return self.integrity(error) or conflict(error)

    def integrity(self, error: BaseException) -> bool:
        """Return whether an error is the driver's integrity error (a duplicate key)."""
        return isinstance(error, self._integrity)

    def conflict(self, error: BaseException) -> bool:
        """Return whether an error is a conflict: run again within the budget, then ok 8."""
        return conflict(error)

    def unavailable(self, error: BaseException) -> bool:
        """Return whether an error means the store cannot be reached or used right now."""
        return isinstance(error, self._unavailable)

    def failure(self, error: BaseException) -> BaseException:
        """Return what a failed use case answers: its own error, or ok 8 for the store's."""
        if self.unavailable(error):
            because = logs.error_classes(error)  # no message: it can quote a value
            full = disk_full(error)
            self.note("disk_full" if full else "unavailable", error)
            if full:
                if self.refusing is None:
                    self.refusing = Refusing(rfc3339(now_ms()), because)
                log.warning("store refusing writes: disk full: %s", because)
            else:
                log.warning("store unavailable: %s", because)
            failure = StorageUnavailable(UNAVAILABLE)
            failure.__cause__ = error
            return failure
        if not isinstance(error, HuihuaError):  # a use case's own answer is no failure
            self.note("other", error)
        return error

    def busy(self, error: BaseException, attempts: int, elapsed_ms: float) -> BaseException:
        """Return what a write answers when its conflicts outlasted the retry budget: ok 8."""
        self.note("busy", error)
        log.warning(
            "store busy: %d attempts in %.0f ms, the last failed with %s",
            attempts,
            elapsed_ms,
            logs.error_classes(error),
        )
        failure = StorageUnavailable(BUSY)
        failure.__cause__ = error
        return failure

    def wrote(self) -> None:
        """Note that a write committed: the store takes writes (again)."""
        if self.refusing is not None:
            log.warning("store takes writes again (refused them since %s)", self.refusing.since)
            self.refusing = None


def conflict(error: BaseException) -> bool:
    """Return whether a driver's error is one of the conflict codes above."""
    if getattr(error, "sqlstate", None) in RETRY_SQLSTATES:
        return True
    if type(error).__module__.split(".", 1)[0] == "MySQLdb":
        args = error.args
        return bool(args) and type(args[0]) is int and args[0] in RETRY_MYSQL
    return False


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


def driver_code(error: BaseException | None) -> str:
    """Return the driver's code of an error or of one it was caused by: SQLite's error
    name, PostgreSQL's SQLSTATE, MySQL's error number; ``-`` when none has one."""
    seen = 0
    while error is not None and seen < 8:
        name = getattr(error, "sqlite_errorname", None)
        if isinstance(name, str):
            return name
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str):
            return state
        if type(error).__module__.split(".", 1)[0] == "MySQLdb":
            args = error.args
            if args and type(args[0]) is int:
                return str(args[0])
        error = getattr(error, "orig", None) or error.__cause__
        seen += 1
    return "-"
