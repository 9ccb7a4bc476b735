"""What a huihua server logs, captured for the tests: :class:`LogCapture` and the
``server_logs`` fixture (conftest.py imports both)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

# -- what the server logs ------------------------------------------------------------------

# The loggers a huihua server process writes to, besides the root: huihua's own tree and
# the libraries it runs on. uvicorn's access logger is not among them: `huihua serve` turns
# it off and writes its own access line (huihua.access).
PRODUCT_LOGGERS = ("huihua", "httpx", "httpcore", "uvicorn.error", "alembic", "sqlalchemy")


class LogCapture(logging.Handler):
    """Every record that reaches the server's loggers, each once, formatted as a line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.records: list[logging.LogRecord] = []
        self._lines: list[str] = []
        self._seen: set[int] = set()
        self._grew = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if id(record) in self._seen:  # attached to a logger and to one of its ancestors
            return
        self._seen.add(id(record))  # the record stays in self.records: its id is not reused
        line = self.format(record)  # the message, and the traceback of an exception
        with self._grew:
            self.records.append(record)
            self._lines.append(line)
            self._grew.notify_all()

    @property
    def text(self) -> str:
        with self._grew:
            return "\n".join(self._lines)

    def wait_for(self, fragment: str, timeout: float = 10) -> None:
        """Return once a line holds ``fragment``; fail the test if none does in time."""
        deadline = time.monotonic() + timeout
        with self._grew:
            while not any(fragment in line for line in self._lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no log line holds {fragment!r} after {timeout} s")
                self._grew.wait(left)


@pytest.fixture
def server_logs() -> Iterator[LogCapture]:
    """Capture, at DEBUG, every record of every logger the server writes to, whatever the
    pytest version (caplog reaches only what pytest attaches to, which changes).

    The handler goes on the root, on each of PRODUCT_LOGGERS and on every logger of theirs
    that does not pass its records up; the root is set to DEBUG, as ``caplog.set_level``
    would. Levels the code itself set on a logger stay: they are part of what is tested
    (huihua keeps httpx at WARNING, as its request lines carry WeChat's secret).
    """
    capture = LogCapture()
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in PRODUCT_LOGGERS)]
    loggers += [
        logger
        for name, logger in root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
        and not logger.propagate
        and logger not in loggers
        and any(name.startswith(product + ".") for product in PRODUCT_LOGGERS)
    ]
    saved_level = root.level
    for logger in loggers:
        logger.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.setLevel(saved_level)
        for logger in loggers:
            logger.removeHandler(capture)
