"""What the commands share: the --database-url option, the settings, the store opened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
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


@contextlib.contextmanager
def opened(settings: Settings) -> Iterator[Store]:
    """Yield the store the settings name (SQLite: created or upgraded first), then close it."""
    from huihua.store import StoreError, open_store  # not imported for --help

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
