"""What the commands share: the --database-url option, the settings, the store opened (one
that exists: a command that reads a store never makes an empty one), and a progress line on
a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from huihua import logs
from huihua.config import Settings, help_of

if TYPE_CHECKING:
    from huihua.store import Store

T = TypeVar("T")


def database_option(fn: Any) -> Any:
    """The --database-url option, with its environment variable and default."""
    return click.option(
        "--database-url",
        metavar="URL",
        help=f"{help_of('database_url')} [env HUIHUA_DATABASE_URL; default "
        f"{Settings.database_url}]",
    )(fn)


def load_settings(**options: Any) -> Settings:
    """Return the settings from the environment and these options; a usage error if bad."""
    try:
        return Settings.load(**options)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def require_store(settings: Settings) -> None:
    """Raise a ClickException, before anything is opened or created, when the settings name
    a SQLite file that does not exist: reading it would make an empty store and report
    on that. (A server store that does not exist is refused when it is connected to.)"""
    from huihua.store.engine import store_kind  # not imported for --help

    try:
        kind = store_kind(settings.database_url)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if not kind.embedded:
        return
    path = Path(kind.url.database or "")
    if not path.is_file():
        raise click.ClickException(
            f"no SQLite store at {path.resolve() if path.name else path}: check --database-url "
            "(or HUIHUA_DATABASE_URL); `huihua migrate` or `huihua serve` makes a new one"
        )


@contextlib.contextmanager
def opened(settings: Settings, *, existing: bool = True) -> Iterator[Store]:
    """Yield the store the settings name, then close it. ``existing``: refuse a SQLite file
    that does not exist (require_store); otherwise SQLite is created first. A SQLite store is
    upgraded to this version's schema."""
    from huihua.store import StoreError, open_store  # not imported for --help

    if existing:
        require_store(settings)
    logs.configure("warning")
    logging.getLogger("huihua").setLevel(logging.WARNING)
    try:
        store = open_store(settings)
    except (StoreError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    try:
        yield store
    finally:
        store.close()


def run(work: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function to its end on a new event loop; return what it returned."""

    async def main() -> T:
        return await work()

    return asyncio.run(main())


class Status:
    """One line of progress on stderr, rewritten in place, when stderr is a terminal (at most
    ten times a second); nothing at all otherwise, so a pipe or a log gets only the result."""

    EVERY_S = 0.1

    def __init__(self, label: str, *, on: bool | None = None) -> None:
        self.label = label
        self.on = sys.stderr.isatty() if on is None else on
        self.started = time.perf_counter()
        self._shown = 0.0

    def show(self, text: str, *, now: bool = False) -> None:
        """Show ``text`` after the label (``now``: even if the last was shown just before)."""
        if not self.on:
            return
        moment = time.perf_counter()
        if not now and moment - self._shown < self.EVERY_S:
            return
        self._shown = moment
        seconds = moment - self.started
        sys.stderr.write(f"\r\x1b[K{self.label}: {text} ({seconds:.0f} s)")
        sys.stderr.flush()

    def clear(self) -> None:
        """Take the line away (the command's result follows)."""
        if self.on:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


@contextlib.contextmanager
def status(label: str, first: str) -> Iterator[Status]:
    """Yield a :class:`Status` already showing ``first``; clear it at the end."""
    line = Status(label)
    line.show(first, now=True)
    try:
        yield line
    finally:
        line.clear()
