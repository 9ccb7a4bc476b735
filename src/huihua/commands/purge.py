"""``huihua purge``: one retention sweep now, as the server runs in the background."""

from __future__ import annotations

import time
from typing import Any

import click

from huihua.commands._common import database_option, load_settings, opened, run, status


@click.command()
@database_option
@click.option(
    "--retention-days",
    type=click.IntRange(min=0),
    help="Delete sessions idle for longer than this many days (0: none). "
    "[env HUIHUA_RETENTION_DAYS; default 0]",
)
@click.option(
    "--idempotency-hours",
    type=click.IntRange(min=1),
    help="Delete idempotency records older than this many hours. "
    "[env HUIHUA_IDEMPOTENCY_HOURS; default 24]",
)
def purge(**options: Any) -> None:
    """Delete what retention would: idempotency records past their window and, with
    HUIHUA_RETENTION_DAYS set, sessions idle for longer, with their messages; say what was
    removed. In small batches, so a server serving the same store meanwhile keeps writing.
    On a terminal, stderr shows what has been removed so far. A SQLite store that does not
    exist is refused, not made.
    """
    from huihua.service import retention

    settings = load_settings(**options)
    started = time.perf_counter()
    with opened(settings) as store, status("purging", "looking for expired rows") as line:

        def progress(purged: retention.Purged) -> None:
            line.show(f"removed {purged}")

        purged = run(
            lambda: retention.purge(
                store,
                idempotency_hours=settings.idempotency_hours,
                retention_days=settings.retention_days,
                progress=progress,
            )
        )
    click.echo(f"removed {purged} in {time.perf_counter() - started:.1f} s")
