"""The transaction runner: the one place that begins, commits and retries.

A use case is a plain function of a connection (a :class:`~huihua.store.sql.Db`).
``write`` runs it in a transaction and returns only after that transaction committed;
``read`` runs it with each statement its own transaction (no read needs two statements to
agree; SQLite's long reads, on a thread, run in one); ``snapshot`` in one read-only
transaction that sees the store as of one moment (REPEATABLE READ; SQLite's WAL snapshot),
for long reads such as an export. ``inject_fault(fault)`` is the tests' way into the retry
path: ``fault`` is called in each write's transaction just before it commits, and what it
raises counts as that transaction's failure. Two runners, one per kind of store:

- :class:`SqliteRunner` (sqlite.py): group commit on the one write connection, the COMMIT's
  fsync on a thread while the event loop goes on; reads on their own connections.
- :class:`PooledRunner` (pooled.py), for PostgreSQL and MySQL/MariaDB: each call on a worker
  thread with a pooled connection in autocommit mode; a transaction that failed for a
  conflict (a serialization failure, a deadlock, a Galera certification conflict) is run
  again whole within a time budget, then answered ok 8; one that met a concurrent insert
  of the same key, up to ``MAX_ATTEMPTS`` times.

Which errors are retried, and which mean the store is unavailable: ``huihua.store.errors``.
"""

from huihua.store.errors import ErrorKinds
from huihua.store.runner._shared import Fault, UnitOfWork
from huihua.store.runner.pooled import MAX_ATTEMPTS, PooledRunner
from huihua.store.runner.sqlite import SqliteRunner

__all__ = [
    "MAX_ATTEMPTS",
    "ErrorKinds",
    "Fault",
    "PooledRunner",
    "SqliteRunner",
    "UnitOfWork",
]
