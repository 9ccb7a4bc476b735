"""Retention (docs/api.md §7): what the store keeps is bounded, in batches that never stall writes.

- Idempotency records older than their window (``idempotency_hours``, 24 by default) are
  deleted: a retry after that is a new write.
- With ``retention_days`` set, sessions idle for longer (no message added since) are
  deleted with their messages.

:func:`purge` is one sweep: ``huihua purge`` runs it once, and the server runs it every
``purge_interval`` seconds in the background (:func:`sweep_forever`). Each batch is a write
transaction of its own, of about :data:`BATCH` rows, through the store's runner (on
SQLite it joins a group commit like any write), with a pause after it, so that the users'
writes go on between batches. A sweep that fails (the store unavailable) stops; the next
one starts over, and deletes only what is still expired.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from huihua.errors import StorageUnavailable
from huihua.store import Store
from huihua.store.queries import retention as rq
from huihua.timestamps import now_ms

log = logging.getLogger("huihua")

BATCH = 200  # rows a batch deletes, at most about
PAUSE_S = 0.02  # after each batch, for the users' writes
USERS_PER_PAGE = 500  # users whose idle sessions one read finds
FIRST_SWEEP_S = 60
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass
class Purged:
    """What a sweep deleted."""

    idempotency_records: int = 0
    sessions: int = 0
    messages: int = 0

    def __str__(self) -> str:
        return (
            f"{self.idempotency_records} idempotency records, {self.sessions} idle sessions "
            f"with {self.messages} messages"
        )


async def purge(
    store: Store,
    *,
    idempotency_hours: int,
    retention_days: int,
    now: int | None = None,
    batch: int = BATCH,
    pause_s: float = PAUSE_S,
    progress: Callable[[Purged], None] | None = None,
) -> Purged:
    """Delete what is past its time as of ``now`` (ms; the present by default), batch by
    batch; return what was deleted. ``progress`` is told after each batch."""
    now = now_ms() if now is None else now
    purged = Purged()
    before = now - idempotency_hours * HOUR_MS
    # A read first: a sweep with nothing to do writes nothing (no transaction, no fsync).
    expired = functools.partial(rq.any_expired_idempotency, before=before)
    while await store.read(expired):
        deleted = await store.write(
            functools.partial(rq.purge_idempotency, before=before, batch=batch)
        )
        purged.idempotency_records += deleted
        if progress is not None:
            progress(purged)
        if deleted < batch:
            break
        await asyncio.sleep(pause_s)
    if retention_days > 0:
        await _purge_sessions(
            store, now - retention_days * DAY_MS, batch, pause_s, purged, progress
        )
    return purged


async def _purge_sessions(
    store: Store,
    before: int,
    batch: int,
    pause_s: float,
    purged: Purged,
    progress: Callable[[Purged], None] | None,
) -> None:
    after: str | None = ""  # every user id is longer
    while after is not None:
        find = functools.partial(rq.idle_sessions, after=after, users=USERS_PER_PAGE, before=before)
        idle, after = await store.read(find, long=True)
        for user_id, session_id in idle:
            state = rq.MORE
            while state == rq.MORE:
                step = functools.partial(
                    rq.purge_session,
                    user_id=user_id,
                    session_id=session_id,
                    before=before,
                    batch=batch,
                )
                deleted, state = await store.write(step)
                purged.messages += deleted
                purged.sessions += state == rq.DELETED
                if progress is not None:
                    progress(purged)
                await asyncio.sleep(pause_s)


async def sweep_forever(
    store: Store, *, idempotency_hours: int, retention_days: int, interval_s: float
) -> None:
    """Run :func:`purge` every ``interval_s`` seconds (the first within a minute), logging
    what each removed; until cancelled."""
    delay = min(FIRST_SWEEP_S, interval_s) * random.uniform(0.8, 1.0)  # workers apart
    while True:
        await asyncio.sleep(delay)
        delay = interval_s
        started = time.perf_counter()
        try:
            purged = await purge(
                store, idempotency_hours=idempotency_hours, retention_days=retention_days
            )
        except StorageUnavailable:
            log.warning("retention: the store is unavailable; the next sweep tries again")
            continue
        except Exception as error:  # the sweep must not die with the server still up
            log.error("retention: sweep failed: %s", type(error).__name__)
            continue
        if purged.idempotency_records or purged.sessions or purged.messages:
            log.info("retention: removed %s in %.1f s", purged, time.perf_counter() - started)
