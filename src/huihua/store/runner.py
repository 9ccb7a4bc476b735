"""The transaction runner: the one place that begins, commits and retries.

A use case is a plain function of a connection. ``write`` runs it in a transaction and
returns only after that transaction committed; ``read`` runs it in a read transaction.

- SQLite: one writer thread owns the only write connection and commits in groups. Writes
  that arrive while it works wait in a queue; it takes them all (up to
  ``group_commit_max``), runs each in a savepoint of one ``BEGIN IMMEDIATE`` transaction
  (so one failure leaves the others whole), commits once — one fsync for the lot — and
  only then hands every result back. Short reads run inline on the event loop on their own
  connection (WAL: readers never wait for the writer); long ones run on a thread.
- PostgreSQL, MySQL/MariaDB: each call runs on a worker thread with a pooled connection,
  never on the event loop. A transaction that fails for a serialization failure, a deadlock
  (Galera reports a certification conflict at COMMIT as one) or a concurrent insert of the
  same key is retried whole, a few times, with jittered back-off.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
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
    """Group commit on one writer thread; inline short reads."""

    def __init__(self, write_engine: Engine, read_engine: Engine, group_max: int) -> None:
        self._write_engine = write_engine
        self._read_engine = read_engine
        self._group_max = group_max
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._inline: Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="huihua-read")
        self._thread = threading.Thread(target=self._writer, name="huihua-writer", daemon=True)
        self._thread.start()

    async def write(self, fn: UnitOfWork[T]) -> T:
        """Run ``fn`` in the next group's transaction; return once that group committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, future, loop))
        return await future

    async def read(self, fn: UnitOfWork[T], *, long: bool = False) -> T:
        """Run ``fn`` in a read transaction: inline when short, on a thread when ``long``."""
        if long:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._read_on_thread, fn
            )
        if self._inline is None:
            self._inline = self._read_engine.connect()
        try:
            with self._inline.begin():
                return fn(self._inline)
        except HuihuaError:
            raise
        except Exception as error:
            self._inline.invalidate()
            self._inline.close()
            self._inline = None
            if is_unavailable(error):
                raise StorageUnavailable(UNAVAILABLE) from error
            raise

    def _read_on_thread(self, fn: UnitOfWork[T]) -> T:
        try:
            with self._read_engine.connect() as conn, conn.begin():
                return fn(conn)
        except sa_exc.OperationalError as error:
            raise StorageUnavailable(UNAVAILABLE) from error

    def _writer(self) -> None:
        conn: Connection | None = None
        while True:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._group_max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            if conn is None:
                try:
                    conn = self._write_engine.connect()
                except Exception as error:
                    self._answer(batch, [(False, _as_unavailable(error))] * len(batch))
                    continue
            outcomes = self._run_group(conn, [fn for fn, _, _ in batch])
            if any(not ok and isinstance(v, StorageUnavailable) for ok, v in outcomes):
                conn.invalidate()
                conn.close()
                conn = None
            self._answer(batch, outcomes)
        if conn is not None:
            conn.close()

    @staticmethod
    def _answer(batch: list[Any], outcomes: list[tuple[bool, Any]]) -> None:
        for (_, future, loop), (ok, value) in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_settle, future, ok, value)

    @staticmethod
    def _run_group(conn: Connection, fns: list[UnitOfWork[Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        single = len(fns) == 1
        try:
            with conn.begin():
                for fn in fns:
                    if single:
                        try:
                            outcomes.append((True, fn(conn)))
                        except HuihuaError as error:
                            outcomes.append((False, error))
                            raise
                        continue
                    savepoint = conn.begin_nested()
                    try:
                        value = fn(conn)
                    except Exception as error:
                        savepoint.rollback()
                        if is_unavailable(error):
                            error = _as_unavailable(error)
                        outcomes.append((False, error))
                    else:
                        savepoint.commit()
                        outcomes.append((True, value))
        except HuihuaError:
            pass  # a lone use case refused: its transaction rolled back, nothing else in it
        except Exception as error:
            # The transaction itself failed (at BEGIN, at COMMIT, or a lone use case):
            # nothing of the group was committed, so nobody is told otherwise.
            failure = _as_unavailable(error) if is_unavailable(error) else error
            return [(False, failure)] * len(fns)
        return outcomes

    def close(self) -> None:
        """Finish the queued writes, then release every connection."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self._inline is not None:
            self._inline.close()
        self._executor.shutdown(wait=True)
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


def _as_unavailable(error: BaseException) -> StorageUnavailable:
    log.warning("store unavailable: %s", type(error).__name__)
    failure = StorageUnavailable(UNAVAILABLE)
    failure.__cause__ = error
    return failure
