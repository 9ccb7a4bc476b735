"""``huihua stats``: what the store holds, its size on disk, the span of its activity."""

from __future__ import annotations

from typing import Any

import click

from huihua.commands._common import database_option, load_settings, opened, run, status
from huihua.timestamps import rfc3339


@click.command()
@database_option
def stats(**options: Any) -> None:
    """Count users, sessions, messages and remembered request ids; say the store's size on
    disk and its oldest and newest activity (the least and the most recently active
    session's last message). On a terminal, stderr shows what is being counted. A SQLite
    store that does not exist is refused, not made."""
    from huihua.store.admin import AdminError, size_on_disk
    from huihua.store.queries.stats import totals

    settings = load_settings(**options)
    with opened(settings) as store, status("stats", "opening the store") as line:

        def counting(table: str) -> None:
            line.show(f"counting {table}", now=True)

        found = run(lambda: store.snapshot(lambda db: totals(db, counting)))
    try:
        size = size_on_disk(settings)
    except AdminError as error:
        raise click.ClickException(str(error)) from None
    rows = [
        ("store", store.kind),
        ("users", f"{found.users:,}"),
        ("sessions", f"{found.sessions:,}"),
        ("messages", f"{found.messages:,}"),
        ("idempotency records", f"{found.idempotency_records:,}"),
        ("size on disk", f"{size:,} bytes ({size / 1_048_576:,.1f} MiB)"),
        ("oldest activity", _when(found.oldest_activity)),
        ("newest activity", _when(found.newest_activity)),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<21}{value}")


def _when(ms: int | None) -> str:
    return "-" if ms is None else rfc3339(ms)
