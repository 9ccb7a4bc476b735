"""The PostgreSQL and MySQL/MariaDB runner: a pooled connection per call, on a thread.

Each call runs on a worker thread with a pooled connection, never on the event loop. The
connections are in autocommit mode: a read's statements are each their own transaction,
and a write that is one statement (add_chat's append on PostgreSQL) costs one round trip,
with no BEGIN and no COMMIT; other writes open a transaction at their first statement.

The retry rule (errors.py names the codes): a transaction that fails for a conflict — a
serialization failure, a deadlock, a Galera certification conflict at COMMIT, a Galera
node not ready — is run again whole, with jittered exponential back-off, for as long as
the time budget (``HUIHUA_RETRY_BUDGET_MS``, from the call's start) allows; then the call
fails with StorageUnavailable (ok 8: not acknowledged, a retry with the same request_id is
safe), never with the driver's error (ok 9). A concurrent insert of the same key is run
again too, at most ``MAX_ATTEMPTS`` times (the next run finds the twin's row).
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

MAX_ATTEMPTS = 8  # runs of a transaction that failed on a duplicate key
RETRY_BUDGET_MS = 1_000  # the default of HUIHUA_RETRY_BUDGET_MS (config.py)
BACKOFF_FIRST_S = 0.001  # the first back-off is drawn from [0, 2 ms), then [0, 4 ms), …
BACKOFF_MAX_S = 0.1  # … up to [0, 100 ms)


def backoff_s(attempt: int) -> float:
    """Return the pause after the ``attempt``-th failed run (1, 2, …): "full jitter", a
    uniform draw below an exponentially growing cap, so that the losers of one conflict do
    not meet again at the same moment."""
    return random.uniform(0, min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0**attempt))


class PooledRunner:
    """One pooled connection per call, on a worker thread; whole-transaction retries."""

    def __init__(
        self, engine: Engine, threads: int, *, retry_budget_ms: int = RETRY_BUDGET_MS
    ) -> None:
        """``engine``: its connections in autocommit mode (engine.py, ``serving``).
        ``retry_budget_ms``: how long a call may go on running a conflicting transaction
        again, from its start (0: once, no retry)."""
        self._engine = engine
        self._budget_s = retry_budget_ms / 1000
        self._caps = capabilities(engine.dialect)  # the engine has connected: open_store
        self._errors = ErrorKinds(engine)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="huihua-db")
        self._fault: Fault | None = None
        self.errors = self._errors

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
        started = time.monotonic()
        duplicates = 0
        attempt = 0
        while True:
            attempt += 1
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
                conflict = self._errors.conflict(error)
                if self._errors.unavailable(error) and not conflict:
                    discard(raw)
                    self._engine.pool.dispose()  # its idle twins are most likely dead too
                    if raw is not None and not committing and not reconnected:
                        reconnected = True
                        continue
                    raise self._errors.failure(error) from error
                _rollback(raw)
                if conflict:
                    pause = backoff_s(attempt)
                    elapsed = time.monotonic() - started
                    if elapsed + pause >= self._budget_s:
                        raise self._errors.busy(error, attempt, elapsed * 1000) from error
                    self._errors.note("retried", error)
                    time.sleep(pause)
                    continue
                if self._errors.integrity(error) and duplicates + 1 < MAX_ATTEMPTS:
                    duplicates += 1
                    self._errors.note("retried", error)
                    time.sleep(backoff_s(duplicates))
                    continue
                self._errors.note("other", error)
                raise

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
