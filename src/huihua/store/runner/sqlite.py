"""The SQLite runner: group commit on the one write connection, reads on their own.

Writes that arrive while a group is being committed wait; the next group takes them all
(up to ``group_commit_max``) and runs them in one ``BEGIN IMMEDIATE`` transaction. When one
of them fails, the group is rolled back and run again with a savepoint for each write, so
that one failure leaves the others whole; a write that failed on an integrity error (its
request id's record exists) is run once more, and then finds that record first
(service/idempotency.py). The statements run on the event loop (a thread would pay a GIL
hand-off per statement); the COMMIT — one fsync for the whole group — runs on a thread
while the loop goes on parsing the next requests (measured here: add_chat 8,200 rps
against 6,700 with the COMMIT inline). Only after it returns is any reply of the group
sent. Short reads run inline on their own connection, each statement its own transaction
(WAL: readers never wait for the writer); long ones on a thread, in one read transaction.

While a SQLite runner is open, the process's GIL switch interval is shortened (see
``GIL_SWITCH_S``); the last one to close puts it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine

from huihua.errors import HuihuaError
from huihua.store.dialect import capabilities
from huihua.store.errors import ErrorKinds, Refusing
from huihua.store.runner._shared import Fault, T, UnitOfWork, discard
from huihua.store.sql import Db

Pending = tuple[UnitOfWork[Any], "asyncio.Future[Any]"]

# Group commit: when a COMMIT's fsync returns, its thread needs the GIL back to hand the
# group over, and by default waits up to 5 ms for the busy event loop to let go of it.
# Measured here, add_chat median of 5 alternated runs: 15,241 rps at 5 ms, 16,082 at
# 0.2 ms; reads unchanged. PostgreSQL's thread pool lost 15% with it, so only SQLite.
GIL_SWITCH_S = 0.0002


class _SwitchInterval:
    """The process's GIL switch interval, at ``GIL_SWITCH_S`` while any SQLite runner is
    open (several can be, in tests), and as it was before the first once the last closes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved = 0.0

    def hold(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(GIL_SWITCH_S)
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                sys.setswitchinterval(self._saved)


_switch_interval = _SwitchInterval()


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
        self._caps = capabilities(write_engine.dialect)
        self._errors = ErrorKinds(write_engine)
        self._pending: list[Pending] = []
        self._busy = False  # a group is being run or committed
        self._writer: Any = None  # the pooled connection, and its Db
        self._write_db: Db | None = None
        self._reader: Any = None
        self._read_db: Db | None = None
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huihua-commit")
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="huihua-read")
        self._fault: Fault | None = None
        self.errors = self._errors
        # Told the size of each group as it begins: metrics (Store.instrument).
        self.on_group: Callable[[int], None] | None = None
        _switch_interval.hold()
        self._holds_switch_interval = True

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
        """Run ``fn``: inline, each statement its own transaction as on the pooled stores (a
        short indexed read costs less than a thread hop, and a BEGIN and COMMIT cost more
        than a statement's own read lock: read 367,933 -> 358,608 instructions); or, when
        ``long``, on a thread in one read transaction."""
        if long:
            return await asyncio.get_running_loop().run_in_executor(
                self._threads, self._read_on_thread, fn
            )
        try:
            if self._read_db is None:
                self._reader = self._read_engine.raw_connection()
                self._read_db = self._db(self._reader, self._read_engine)
            return fn(self._read_db)
        except HuihuaError:
            raise
        except Exception as error:
            discard(self._reader)
            self._reader, self._read_db = None, None
            raise self._errors.failure(error) from error

    async def snapshot(self, fn: UnitOfWork[T]) -> T:
        """Run ``fn`` on a thread in one read transaction on a read connection: in WAL it
        sees the database as it was at its first read, whatever commits meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._read_on_thread, fn, self._caps.snapshot_begin
        )

    @property
    def refusing_writes(self) -> Refusing | None:
        """Since when and why writes fail for a full disk; None while they commit."""
        return self._errors.refusing

    def inject_fault(self, fault: Fault | None) -> None:
        """From now on, call ``fault(db)`` in each write's transaction after its unit of
        work returned, before its savepoint is released or its group commits; what it
        raises is that write's failure (retried when retryable, as a real one). None:
        stop. For tests."""
        self._fault = fault

    def _read_on_thread(self, fn: UnitOfWork[T], begin: tuple[str, ...] = ("BEGIN",)) -> T:
        raw = self._read_engine.raw_connection()
        try:
            return _in_transaction(self._db(raw, self._read_engine), begin, fn)
        except HuihuaError:
            raise
        except Exception as error:
            raise self._errors.failure(error) from error
        finally:
            raw.close()

    def _db(self, raw: Any, engine: Engine) -> Db:
        return Db(raw.driver_connection, engine.dialect, caps=self._caps)

    def _run_group(self) -> None:
        group = self._pending[: self._group_max]
        del self._pending[: self._group_max]
        if self.on_group is not None:
            self.on_group(len(group))
        try:
            if self._write_db is None:
                self._writer = self._write_engine.raw_connection()
                self._write_db = self._db(self._writer, self._write_engine)
            db = self._write_db
            db.execute_text("BEGIN IMMEDIATE")
        except Exception as error:
            self._drop_writer()
            self._finish(group, [(False, self._errors.failure(error))] * len(group))
            return
        try:
            outcomes = self._run_each(db, [fn for fn, _ in group])
        except Exception as error:  # the transaction itself broke: drop it all
            self._drop_writer()
            self._finish(group, [(False, self._errors.failure(error))] * len(group))
            return
        if not any(ok for ok, _ in outcomes):
            try:
                db.execute_text("ROLLBACK")  # nothing to keep: no fsync
            except Exception as error:
                self._drop_writer()
                outcomes = [(False, self._errors.failure(error))] * len(group)
            self._finish(group, outcomes)
            return
        try:
            committing = asyncio.get_running_loop().run_in_executor(
                self._committer, db.execute_text, "COMMIT"
            )
        except RuntimeError as error:  # the committer is shut down: the server is stopping
            self._drop_writer()
            self._finish(group, [(False, self._errors.failure(error))] * len(group))
            return
        committing.add_done_callback(lambda done: self._committed(group, outcomes, done))

    def _run_each(self, db: Db, fns: list[UnitOfWork[Any]]) -> list[tuple[bool, Any]]:
        # Fast path: run the group as one plain transaction; a savepoint per write costs
        # two statements more, which only pays when a write fails, and that is rare.
        values: list[Any] = []
        for fn in fns:
            try:
                values.append(self._write_once(db, fn))
            except Exception as error:
                if len(fns) == 1 and not self._errors.retryable(error):
                    return [(False, self._errors.failure(error))]
                break
        else:
            return [(True, value) for value in values]
        # A write failed: run the group again, each write in a savepoint, so that its
        # failure undoes its own changes only.
        db.execute_text("ROLLBACK")
        db.execute_text("BEGIN IMMEDIATE")
        return [self._in_savepoint(db, fn) for fn in fns]

    def _in_savepoint(self, db: Db, fn: UnitOfWork[Any]) -> tuple[bool, Any]:
        for attempt in (1, 2):
            db.execute_text("SAVEPOINT one_write")
            try:
                value = self._write_once(db, fn)
            except Exception as error:
                db.execute_text("ROLLBACK TO one_write")  # this write only; the group stays
                db.execute_text("RELEASE one_write")
                if attempt == 1 and self._errors.retryable(error):
                    self._errors.note("retried", error)
                    continue  # its request id's record exists (a twin): run it once more
                return (False, self._errors.failure(error))
            db.execute_text("RELEASE one_write")
            return (True, value)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_once(self, db: Db, fn: UnitOfWork[T]) -> T:
        value = fn(db)
        if self._fault is not None:
            self._fault(db)
        return value

    def _committed(
        self, group: list[Pending], outcomes: list[tuple[bool, Any]], done: asyncio.Future[Any]
    ) -> None:
        error = asyncio.CancelledError() if done.cancelled() else done.exception()
        if error is not None:
            # Nothing of the group was committed, so nobody in it is told otherwise.
            self._drop_writer()
            outcomes = [(False, self._errors.failure(error))] * len(group)
        elif self._errors.refusing is not None:
            self._errors.wrote()
        self._finish(group, outcomes, committed=True)

    def _finish(
        self, group: list[Pending], outcomes: list[tuple[bool, Any]], committed: bool = False
    ) -> None:
        if not self._pending:
            self._busy = False
        elif committed:
            # After a COMMIT, the next group's statements run and its COMMIT starts before
            # this group's replies are sent, so that its fsync overlaps sending them
            # (measured here: add_chat +7%).
            self._run_group()
        else:
            asyncio.get_running_loop().call_soon(self._run_group)
        for (_, future), (ok, value) in zip(group, outcomes, strict=True):
            _settle(future, ok, value)

    def _drop_writer(self) -> None:
        discard(self._writer)
        self._writer, self._write_db = None, None

    def close(self) -> None:
        """Release every connection (the server has finished its requests by now), and
        the GIL switch interval."""
        try:
            self._committer.shutdown(wait=True)
            self._threads.shutdown(wait=True)
            for conn in (self._writer, self._reader):
                if conn is not None:
                    conn.close()
            self._write_engine.dispose()
            self._read_engine.dispose()
        finally:
            if self._holds_switch_interval:
                self._holds_switch_interval = False
                _switch_interval.release()


def _in_transaction(db: Db, begin: tuple[str, ...], fn: UnitOfWork[T]) -> T:
    for sql in begin:
        db.execute_text(sql)
    try:
        value = fn(db)
    except BaseException:
        with contextlib.suppress(Exception):
            db.execute_text("ROLLBACK")
        raise
    db.execute_text("COMMIT")
    return value
