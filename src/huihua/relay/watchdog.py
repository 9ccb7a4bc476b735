"""A watchdog for a stream's reads: cancels the reading task when one read waits too long."""

from __future__ import annotations

import asyncio


class Watchdog:
    """Cancels the task when a read has waited ``limit_s``; costs a read one clock reading.

    Its timer is checked lazily (asyncio.timeout's enter and exit would cost ~5 µs a read):
    when it fires during a read that is not late yet, it is set again for that read's limit.
    """

    __slots__ = (
        "_cancelling",
        "_handle",
        "_limit",
        "_loop",
        "_task",
        "clock",
        "fired",
        "reading",
        "since",
    )

    def __init__(self, limit_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._limit = limit_s
        self.clock = self._loop.time
        self.reading = False
        self.since = 0.0
        self.fired = False
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(limit_s, self._check)

    def _check(self) -> None:
        now = self.clock()
        due = self.since + self._limit if self.reading else now + self._limit
        if due <= now:
            self.fired = True
            self._handle = None
            self._task.cancel()
            return
        self._handle = self._loop.call_at(due, self._check)

    def expired(self) -> bool:
        """Return whether the CancelledError being handled is this watchdog's alone."""
        return self.fired and self._task.uncancel() <= self._cancelling

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
