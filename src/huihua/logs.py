"""Logging set-up: one line per record on stderr, written in batches.

A request writes one access line; flushing each line to stderr costs a system call per
request, which at the default level (info) took a quarter of add_chat's throughput here.
:class:`BatchedStderrHandler` formats every record at once and writes the waiting lines
together: when 256 are waiting, at once for a warning or worse, and at least every 0.2 s.
A server killed with SIGKILL can lose the last 0.2 s of access lines, never a warning.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class BatchedStderrHandler(logging.Handler):
    """Writes formatted records to a stream in batches (see the module docstring)."""

    def __init__(
        self, stream: TextIO | None = None, capacity: int = 256, interval: float = 0.2
    ) -> None:
        super().__init__()
        assert self.lock is not None  # Handler.__init__ made it (createLock)
        self._held = self.lock  # the lock Handler.handle holds around emit
        self.stream = stream if stream is not None else sys.stderr
        self.capacity = capacity
        self._lines: list[str] = []
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_every, args=(interval,), name="huihua-log", daemon=True
        )
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        try:
            self._lines.append(self.format(record))
            if len(self._lines) >= self.capacity or record.levelno >= logging.WARNING:
                self._write()
        except Exception:
            self.handleError(record)

    def add_line(self, levelname: str, name: str, message: str, created: float) -> None:
        """Queue a line formatted as a record of this level, logger and time would be."""
        formatter: Formatter = self.formatter  # type: ignore[assignment]  # AccessLog checked
        line = f"{formatter.stamp(created)} {levelname} {name} {message}"
        with self._held:
            self._lines.append(line)
            if len(self._lines) >= self.capacity:
                self._write()

    def _write(self) -> None:
        if self._lines:
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            self.stream.write(text)
            self.stream.flush()

    def flush(self) -> None:
        with self._held:
            self._write()

    def _flush_every(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()


class Formatter(logging.Formatter):
    """The standard format, with the time of day formatted once per second, not per line."""

    def __init__(self) -> None:
        super().__init__(FORMAT)
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.stamp(record.created)

    def stamp(self, created: float) -> str:
        """Return the time as ``asctime`` shows it: 2026-11-24 14:15:46,123 (local time)."""
        second = int(created)
        if second != self._second:
            self._second, self._text = (
                second,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)),
            )
        millis = int((created - second) * 1000)
        # a table, not a format, per line (with add_line's assert gone: read 383,337 ->
        # 377,894 instructions)
        return self._text + (_MILLIS[millis] if 0 <= millis < 1000 else f",{millis:03d}")


_MILLIS = tuple(f",{n:03d}" for n in range(1000))


class AccessLog:
    """The one line per request, on the logger ``huihua.access``.

    When the batched stderr handler is the only one listening (as ``huihua serve`` sets
    it up), the line is formatted and queued straight away, as its record would have
    been: a LogRecord per request cost 9% of add_chat's rate here. Otherwise (another
    handler, a filter: a test's capture, an embedding app's set-up) it goes through
    logging as usual.
    """

    def __init__(self, name: str = "huihua.access") -> None:
        self._logger = logging.getLogger(name)

    def info(self, message: str) -> None:
        """Log ``message`` (already formatted) at INFO."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = self._sole_handler()
        if handler is None:
            logger.info("%s", message)
        else:
            handler.add_line("INFO", logger.name, message, time.time())

    def _sole_handler(self) -> BatchedStderrHandler | None:
        # The ancestors as they are now (a parent made later replaces a placeholder).
        logger = self._logger
        while logger.parent is not None:
            if logger.handlers or logger.filters or not logger.propagate:
                return None
            logger = logger.parent
        root = logger
        if root.filters or len(root.handlers) != 1:
            return None
        handler = root.handlers[0]
        if (
            type(handler) is not BatchedStderrHandler
            or handler.filters
            or handler.level > logging.INFO
            or type(handler.formatter) is not Formatter
        ):
            return None
        return handler


def describe(error: BaseException) -> str:
    """Return an exception's types, driver codes and stack, without its messages.

    A driver's message can quote the row it refused (PostgreSQL's DETAIL names the key,
    a user id among it), and logs never hold user ids in clear (README: Logs). A driver's
    code (a SQLSTATE, an error number) says what went wrong without it (:func:`error_class`).
    """
    parts = []
    for current in _chain(error):
        frames = traceback.extract_tb(current.__traceback__)
        where = " < ".join(
            f"{f.name} ({f.filename.rsplit('/', 1)[-1]}:{f.lineno})" for f in reversed(frames)
        )
        parts.append(f"{error_class(current)} at {where or '?'}")
    return "; caused by ".join(parts)


def error_classes(error: BaseException) -> str:
    """Return an exception's types and driver codes along its chain: :func:`describe`
    without the stacks, for a warning that is expected now and then."""
    return "; caused by ".join(error_class(current) for current in _chain(error))


def error_class(error: BaseException) -> str:
    """Return an exception's class, and its database driver's code when it has one:
    ``psycopg.errors.UniqueViolation sqlstate=23505``, ``MySQLdb.IntegrityError
    errno=1062``, ``sqlite3.IntegrityError sqlite=SQLITE_CONSTRAINT_PRIMARYKEY/1555``."""
    name = f"{type(error).__module__}.{type(error).__qualname__}"
    code = driver_code(error)
    return f"{name} {code}" if code else name


def driver_code(error: BaseException) -> str:
    """Return a database driver's code of an error as ``key=value``, or "" when it has none:
    psycopg's SQLSTATE, MySQLdb's error number, sqlite3's extended result code."""
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return f"sqlstate={sqlstate}"
    errorname = getattr(error, "sqlite_errorname", None)
    if isinstance(errorname, str):
        return f"sqlite={errorname}/{getattr(error, 'sqlite_errorcode', '?')}"
    # MySQLdb's errors carry the server's (or client library's) error number first; other
    # exceptions' first argument can be anything, a value from a request among them.
    if type(error).__module__.split(".", 1)[0] == "MySQLdb":
        args = error.args
        if args and type(args[0]) is int:
            return f"errno={args[0]}"
    return ""


def _chain(error: BaseException) -> list[BaseException]:
    """Return an exception and the ones behind it: each one's cause, or the one it was
    raised while handling."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def flush() -> None:
    """Write every waiting line now (the server calls this as it shuts down)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def configure(level: str) -> None:
    """Send every log record at ``level`` or above to stderr, batched."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, BatchedStderrHandler):
            root.removeHandler(handler)
            handler.close()
    handler = BatchedStderrHandler()
    handler.setFormatter(Formatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Fields the format does not show, which every record would otherwise look up (the
    # logging HOWTO's "Optimization"): the caller's file and line, thread, process. A record
    # written to a stream handler took 6.5 µs with them and 3.9 µs without (timeit here):
    # what each request's access line costs when it goes through logging (another handler
    # listening), and every warning.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs each request's URL at INFO, and WeChat's URL holds the app secret.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
