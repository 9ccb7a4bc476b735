"""A long read streamed out of one snapshot: chunks made on a thread, sent as they come.

``produce(db)`` is a generator run on the runner's snapshot thread, inside one read-only
transaction that sees the store as of one moment (Store.snapshot). Its chunks cross to the
event loop through a queue of a few items: when the client reads slowly, the producer waits
(memory stays a few chunks, whatever the size of the whole). When the consumer stops early
(the client left), the producer is told to stop at its next chunk and its transaction ends.
An exception in ``produce`` is raised to the consumer where the chunks end.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from huihua.store.sql import Db

DEPTH = 4  # chunks in flight between the thread and the event loop
_END = object()


async def snapshot_chunks(
    snapshot: Callable[[Callable[[Db], None]], Awaitable[None]],
    produce: Callable[[Db], Iterator[bytes]],
) -> AsyncIterator[bytes]:
    """Yield the chunks ``produce`` makes inside ``snapshot`` (Store.snapshot)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(DEPTH)
    stop = threading.Event()

    def put(item: Any) -> None:
        # Wait for room, but give up when the consumer has gone (its queue is not drained).
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while True:
            try:
                future.result(timeout=0.5)
                return
            except TimeoutError:
                if stop.is_set():
                    future.cancel()
                    raise _Stopped from None

    sent = False

    def work(db: Db) -> None:
        nonlocal sent
        if sent:  # the runner runs a failed transaction again: its chunks are out already
            raise RuntimeError("the snapshot failed after its first chunks were sent")
        try:
            for chunk in produce(db):
                if stop.is_set():
                    return
                sent = True
                put(chunk)
        except _Stopped:
            return
        put(_END)

    task = asyncio.ensure_future(snapshot(work))
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():  # the producer ended without its end mark: it failed
                getter.cancel()
                task.result()  # raises its failure
                raise RuntimeError("the snapshot ended without its chunks")  # pragma: no cover
            item = getter.result()
            if item is _END:
                break
            yield item
        await task
    finally:
        stop.set()
        if not task.done():
            task.add_done_callback(_retrieve)


class _Stopped(Exception):
    """The consumer went away: the producer ends its transaction."""


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so an abandoned stream logs no "never retrieved"
