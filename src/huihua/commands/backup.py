"""``huihua backup FILE``: a consistent copy of the SQLite store, while a server writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from huihua.commands._common import database_option, load_settings, require_store, status

SERVER_STORES = (
    "{kind} is backed up with its own tools, which copy it consistently while huihua "
    "writes: pg_dump --format=custom (PostgreSQL) or mariadb-dump --single-transaction "
    "(MariaDB/MySQL); or, on any store, `huihua export --out FILE` (README: Backup)"
)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_option
def backup(file: Path, **options: Any) -> None:
    """Copy the SQLite store to FILE, consistent as of one moment, while a server writes.

    FILE must not exist; it is written whole or not at all, and is a SQLite database that
    `huihua serve --database-url sqlite:///FILE` can serve. PostgreSQL and MariaDB are
    backed up with their own tools (README: Backup). On a terminal, stderr shows how much
    is copied.
    """
    from huihua.store.admin import AdminError, backup_sqlite
    from huihua.store.engine import store_kind

    settings = load_settings(**options)
    try:
        kind = store_kind(settings.database_url)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if not kind.embedded:
        raise click.ClickException(SERVER_STORES.format(kind=kind.name))
    require_store(settings)
    try:
        with status("backing up", "starting") as line:

            def copied(pages: int, total: int) -> None:
                line.show(f"{pages:,} of {total:,} pages ({pages / max(total, 1):.0%})")

            size, seconds = backup_sqlite(settings, file, copied)
    except AdminError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up {kind.url.database} to {file}: {size:,} bytes in {seconds:.1f} s")
