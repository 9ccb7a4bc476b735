"""The transaction runner: the one place that begins, commits and retries.

A use case is a plain function of a connection. ``write`` runs it in a transaction and
returns only after that transaction committed; ``read`` runs it in a read transaction.

- SQLite: group commit on the one write connection. Writes that arrive while a group is
  being committed wait; the next group takes them all (up to ``group_commit_max``) and runs
  each in a savepoint of one ``BEGIN IMMEDIATE`` transaction (so one failure leaves the
  others whole). The statements run on the event loop — a thread would pay a GIL hand-off
  per statement — and the COMMIT, one fsync for the whole group, runs on a thread while the
  loop goes on parsing the next requests. Only after it returns is any reply sent. Short
  reads run inline on their own connection (WAL: readers never wait for the writer); long
  ones on a thread.
- PostgreSQL, MySQL/MariaDB: each call runs on a worker thread with a pooled connection,
  never on the event loop. A transaction that fails for a serialization failure, a deadlock
  (Galera reports a certification conflict at COMMIT as one) or a concurrent insert of the
  same key is retried whole, a few times, with jittered back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from huihua.errors import HuihuaError, StorageUnavailable

T = TypeVar("T")
UnitOfWork = Callable[[Connection], T]

log = logging.getLogger("huihua.store")

MAX_ATTEMPTS = 8
UNAVAILABLE = "storage: unavailable; nothing was written, retry is safe"
# PostgreSQL SQLSTATEs and MySQL error numbers that mean "run the transaction again".
_RETRY_SQLSTATES = {"40001", "40P01"}
_RETRY_MYSQL = {1213, 1205}


def is_retryable(error: BaseException) -> bool:
    """Return whether a failed transaction should be run again from the start."""
    if isinstance(error, sa_exc.IntegrityError):
        return True  # a concurrent twin inserted the same key first
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    orig = error.orig
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    args = getattr(orig, "args", ())
    return bool(args) and args[0] in _RETRY_MYSQL


def is_unavailable(error: BaseException) -> bool:
    """Return whether an error means the store cannot be reached or used right now."""
    return isinstance(
        error,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError,
    )


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class SqliteRunner:
    """Group commit: statements on the event loop, the COMMIT (the fsync) on a thread."""

    def __init__(self, write_engine: Engine, read_engine: Engine, group_max: int) -> None:
        self._write_engine = write_engine
        self._read_engine = read_engine
        self._group_max = group_max
        self._pending: list[tuple[UnitOfWork[Any], asyncio.Future[Any]]] = []
        self._busy = False  # a group is being run or committed
        self._writer: Connection | None = None
        self._reader: Connection | None = None
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huihua-commit")
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="huihua-read")

    async def write(self, fn: UnitOfWork[T]) -> T:
        """Run ``fn`` in the next group's transaction; return once that group committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((fn, future))
        if not self._busy:
            self._busy = True
            loop.call_soon(self._run_group)  # let the writes parsed this turn join the group
        return await future

    async def read(self, fn: UnitOfWork[T], *, long: bool = False) -> T:
        """Run ``fn`` in a read transaction: inline (a short indexed read costs less than a
        thread hop), or on a thread when ``long``."""
        if long:
            return await asyncio.get_running_loop().run_in_executor(
                self._threads, self._read_on_thread, fn
            )
        if self._reader is None:
            self._reader = self._read_engine.connect()
        try:
            with self._reader.begin():
                return fn(self._reader)
        except HuihuaError:
            raise
        except Exception as error:
            self._reader.invalidate()
            self._reader.close()
            self._reader = None
            if is_unavailable(error):
                raise _as_unavailable(error) from error
            raise

    def _read_on_thread(self, fn: UnitOfWork[T]) -> T:
        try:
            with self._read_engine.connect() as conn, conn.begin():
                return fn(conn)
        except sa_exc.OperationalError as error:
            raise _as_unavailable(error) from error

    def _run_group(self) -> None:
        group = self._pending[: self._group_max]
        del self._pending[: self._group_max]
        try:
            if self._writer is None:
                self._writer = self._write_engine.connect()
            transaction = self._writer.begin()  # BEGIN IMMEDIATE
        except Exception as error:
            self._drop_writer()
            self._finish(group, [(False, _failure(error))] * len(group))
            return
        try:
            outcomes = self._run_each(self._writer, [fn for fn, _ in group])
        except Exception as error:  # a savepoint could not be rolled back: drop it all
            self._drop_writer()
            self._finish(group, [(False, _failure(error))] * len(group))
            return
        if not any(ok for ok, _ in outcomes):
            try:
                transaction.rollback()  # nothing to keep: no fsync
            except Exception as error:
                self._drop_writer()
                outcomes = [(False, _failure(error))] * len(group)
            self._finish(group, outcomes)
            return
        loop = asyncio.get_running_loop()
        committing = loop.run_in_executor(self._committer, transaction.commit)
        committing.add_done_callback(lambda done: self._committed(group, outcomes, done))

    @staticmethod
    def _run_each(conn: Connection, fns: list[UnitOfWork[Any]]) -> list[tuple[bool, Any]]:
        if len(fns) == 1:  # alone in its transaction: no savepoint needed
            try:
                return [(True, fns[0](conn))]
            except Exception as error:
                return [(False, _failure(error))]
        outcomes: list[tuple[bool, Any]] = []
        for fn in fns:
            savepoint = conn.begin_nested()
            try:
                value = fn(conn)
            except Exception as error:
                savepoint.rollback()  # this write only; the others of the group stay
                outcomes.append((False, _failure(error)))
            else:
                savepoint.commit()
                outcomes.append((True, value))
        return outcomes

    def _committed(
        self,
        group: list[tuple[UnitOfWork[Any], asyncio.Future[Any]]],
        outcomes: list[tuple[bool, Any]],
        done: asyncio.Future[None],
    ) -> None:
        error = done.exception()
        if error is not None:
            # Nothing of the group was committed, so nobody in it is told otherwise.
            self._drop_writer()
            outcomes = [(False, _failure(error))] * len(group)
        self._finish(group, outcomes)

    def _finish(
        self,
        group: list[tuple[UnitOfWork[Any], asyncio.Future[Any]]],
        outcomes: list[tuple[bool, Any]],
    ) -> None:
        for (_, future), (ok, value) in zip(group, outcomes, strict=True):
            _settle(future, ok, value)
        if self._pending:
            asyncio.get_running_loop().call_soon(self._run_group)
        else:
            self._busy = False

    def _drop_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.invalidate()
                self._writer.close()
            self._writer = None

    def close(self) -> None:
        """Release every connection (the server has finished its requests by now)."""
        self._committer.shutdown(wait=True)
        self._threads.shutdown(wait=True)
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._write_engine.dispose()
        self._read_engine.dispose()


class PooledRunner:
    """One pooled connection per call, on a worker thread; whole-transaction retries."""

    def __init__(self, engine: Engine, threads: int) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="huihua-db")

    async def write(self, fn: UnitOfWork[T]) -> T:
        """Run ``fn`` in its own transaction on a worker thread; return after the commit."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._transaction, fn
        )

    async def read(self, fn: UnitOfWork[T], *, long: bool = False) -> T:
        """Run ``fn`` in a read transaction on a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._transaction, fn
        )

    def _transaction(self, fn: UnitOfWork[T]) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._engine.connect() as conn, conn.begin():
                    return fn(conn)
            except HuihuaError:
                raise
            except Exception as error:
                if attempt < MAX_ATTEMPTS and is_retryable(error):
                    time.sleep(random.uniform(0, 0.002 * 2**attempt))
                    continue
                if is_unavailable(error):
                    raise _as_unavailable(error) from error
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Release every connection."""
        self._executor.shutdown(wait=True)
        self._engine.dispose()


def _failure(error: BaseException) -> BaseException:
    """Return what a failed use case answers: its own error, or ok 8 for the store's."""
    return _as_unavailable(error) if is_unavailable(error) else error


def _as_unavailable(error: BaseException) -> StorageUnavailable:
    log.warning("store unavailable: %s", type(error).__name__)
    failure = StorageUnavailable(UNAVAILABLE)
    failure.__cause__ = error
    return failure
