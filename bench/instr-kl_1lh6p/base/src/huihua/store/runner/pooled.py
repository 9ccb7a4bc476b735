"""The PostgreSQL and MySQL/MariaDB runner: a pooled connection per call, on a thread.

Each call runs on a worker thread with a pooled connection, never on the event loop. The
connections are in autocommit mode: a read's statements are each their own transaction,
and a write that is one statement (add_chat's append on PostgreSQL) costs one round trip,
with no BEGIN and no COMMIT; other writes open a transaction at their first statement. A
transaction that fails for a serialization failure, a deadlock (Galera reports a
certification conflict at COMMIT as one) or a concurrent insert of the same key is retried
whole, up to ``MAX_ATTEMPTS`` times, with jittered back-off (errors.py sorts the errors).
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine

from huihua.errors import HuihuaError
from huihua.store.dialect import capabilities
from huihua.store.errors import ErrorKinds, Refusing
from huihua.store.runner._shared import Fault, T, UnitOfWork, discard
from huihua.store.sql import Db

MAX_ATTEMPTS = 8


class PooledRunner:
    """One pooled connection per call, on a worker thread; whole-transaction retries."""

    def __init__(self, engine: Engine, threads: int) -> None:
        """``engine``: its connections in autocommit mode (engine.py, ``serving``)."""
        self._engine = engine
        self._caps = capabilities(engine.dialect)  # the engine has connected: open_store
        self._errors = ErrorKinds(engine)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="huihua-db")
        self._fault: Fault | None = None

    async def write(self, fn: UnitOfWork[T]) -> T:
        """Run ``fn`` in its own transaction on a worker thread; return after the commit.

        The transaction opens at ``fn``'s first statement, unless that statement is the
        whole write, run :meth:`~huihua.store.sql.Db.alone`: then there is nothing to open
        or commit (one round trip).
        """
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._transaction, fn, "BEGIN"
        )

    async def read(self, fn: UnitOfWork[T], *, long: bool = False) -> T:
        """Run ``fn`` on a worker thread, each of its statements its own transaction (no
        read here needs two statements to agree; none waits for BEGIN or COMMIT)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._transaction, fn, None
        )

    async def snapshot(self, fn: UnitOfWork[T]) -> T:
        """Run ``fn`` on a worker thread in one read-only transaction at REPEATABLE READ:
        every statement in it sees the database as it was at the first (``caps.snapshot_begin``;
        the connection's own level, READ COMMITTED, is left as it was)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(self._transaction, fn, None, snapshot=True)
        )

    @property
    def refusing_writes(self) -> Refusing | None:
        """Since when and why writes fail for a full disk; None while they commit."""
        return self._errors.refusing

    def inject_fault(self, fault: Fault | None) -> None:
        """From now on, call ``fault(db)`` in each write's transaction after its unit of
        work returned and before the COMMIT; what it raises is the transaction's failure
        (retried when retryable, as a real one). A write that ran as one statement in
        autocommit (:meth:`~huihua.store.sql.Db.alone`) has no COMMIT to fail and is not
        called. None: stop. For tests."""
        self._fault = fault

    def _transaction(self, fn: UnitOfWork[T], begin: str | None, *, snapshot: bool = False) -> T:
        # Pooled connections are not pinged at checkout (a round trip per request); a
        # connection that died in the pool fails at its first statement, before anything
        # was committed, and the transaction is run once more on a new one.
        reconnected = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            raw = None
            committing = False
            try:
                raw = self._engine.raw_connection()
                db = Db(raw, self._engine.dialect, caps=self._caps, begin=begin)
                if snapshot:
                    db.begin_now(self._caps.snapshot_begin)
                value = fn(db)
                fault = self._fault
                if fault is not None and begin is not None and db.opened:
                    fault(db)
                committing = True
                if db.opened:
                    raw.commit()
                raw.close()
                if begin is not None and self._errors.refusing is not None:
                    self._errors.wrote()
                return value
            except HuihuaError:
                _rollback(raw)
                raise
            except Exception as error:
                if self._errors.unavailable(error) and not self._errors.retryable(error):
                    discard(raw)
                    self._engine.pool.dispose()  # its idle twins are most likely dead too
                    if raw is not None and not committing and not reconnected:
                        reconnected = True
                        continue
                    raise self._errors.failure(error) from error
                _rollback(raw)
                if attempt < MAX_ATTEMPTS and self._errors.retryable(error):
                    time.sleep(random.uniform(0, 0.002 * 2**attempt))
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Release every connection."""
        self._executor.shutdown(wait=True)
        self._engine.dispose()


def _rollback(raw: Any) -> None:
    """Roll back and return a pooled connection; throw it away if that fails."""
    if raw is None:
        return
    try:
        raw.rollback()
        raw.close()
    except Exception:
        discard(raw)
