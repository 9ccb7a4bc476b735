"""``huihua export`` and ``huihua import``: a store, or one user, as JSON Lines and back.

The format is store/dump.py's: every stored column, so an import restores a store exactly,
and a file from any store goes into any other. On a terminal a progress bar runs on
stderr; otherwise one summary line is written there when done. stdout carries only the
dump (``export`` without ``--out``). ``export`` refuses a SQLite store that does not exist
(it would make an empty one); ``import`` makes it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
import msgspec

from huihua.commands._common import database_option, load_settings, opened, run

if TYPE_CHECKING:
    from huihua.store.dump import Counts

LINES_PER_WRITE = 2000  # lines of a file upserted in one transaction


@contextmanager
def _progress(label: str, length: int) -> Iterator[Callable[[int], None]]:
    """Yield what to call with each step's size: a bar on a terminal, nothing otherwise."""
    if not sys.stderr.isatty() or length <= 0:  # no bar for stdin, of unknown length
        yield lambda n: None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update


def _rate(counts: Counts, seconds: float) -> str:
    return f"in {seconds:.1f} s ({counts.messages / max(seconds, 1e-9):,.0f} messages/s)"


@click.command()
@click.option("--user", "user_id", metavar="ID", help="Export this user only.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (written whole, then renamed into place) instead of stdout.",
)
@database_option
def export(user_id: str | None, out: Path | None, **options: Any) -> None:
    """Write every user (or one) with their sessions and messages as JSON Lines: every
    stored column, keys in a fixed order, lines ordered by user_id and session_id as UTF-8
    bytes, then seq. From one consistent snapshot, while a server writes. `huihua import`
    reads it back, into any store. On a terminal, stderr shows a progress bar."""

    from huihua.store.dump import count_messages, export_lines  # lazy: --help

    settings = load_settings(**options)
    started = time.perf_counter()
    partial = out.with_name(f".{out.name}.partial") if out is not None else None
    sink: IO[bytes]
    with opened(settings) as store:
        total = run(lambda: store.snapshot(lambda db: count_messages(db, user_id)))
        with (
            open(partial, "wb") if partial is not None else nullcontext(sys.stdout.buffer) as sink,
            _progress("exporting", total) as step,
        ):
            try:
                counts: Counts = run(
                    lambda: store.snapshot(lambda db: export_lines(db, sink.write, user_id, step))
                )
                sink.flush()
                if partial is not None:
                    os.fsync(sink.fileno())
            except BaseException:
                if partial is not None:
                    partial.unlink(missing_ok=True)
                raise
    if user_id is not None and counts.users == 0:
        if partial is not None:
            partial.unlink(missing_ok=True)  # FILE is left as it was
        raise click.ClickException(f"no user {user_id!r} in the store")
    if partial is not None and out is not None:
        os.replace(partial, out)
    where = f" to {out}" if out is not None else ""
    click.echo(f"exported {counts}{where} {_rate(counts, time.perf_counter() - started)}", err=True)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@database_option
def import_(file: str, **options: Any) -> None:
    """Read a dump of `huihua export` (FILE, or - for stdin) into the store: each user,
    session and message is inserted, or overwritten where the store has one with the same
    key (the file wins), so importing twice is importing once. Other rows stay as they are."""
    from huihua.store.dump import TABLES, Counts, DumpError, check_line, import_rows  # lazy: --help

    settings = load_settings(**options)
    started = time.perf_counter()
    size = os.path.getsize(file) if file != "-" else 0
    decode = msgspec.json.Decoder().decode
    counts = Counts()
    with (
        opened(settings, existing=False) as store,
        click.open_file(file, "rb") as source,
        _progress("importing", size) as step,
    ):
        batch: dict[str, list[dict[str, Any]]] = {kind: [] for kind in TABLES}
        pending = done = 0

        def flush() -> None:
            nonlocal pending, done
            rows = {kind: list(lines) for kind, lines in batch.items()}
            run(lambda: store.write(lambda db: import_rows(db, rows)))
            for lines in batch.values():
                lines.clear()
            step(done)
            pending = done = 0

        for number, line in enumerate(source, 1):
            done += len(line)
            if not line.strip():
                continue
            try:
                kind, row = check_line(number, decode(line))
            except msgspec.DecodeError:
                raise click.ClickException(f"{file}: line {number}: not JSON") from None
            except DumpError as error:
                raise click.ClickException(f"{file}: {error}") from None
            batch[kind].append(row)
            setattr(counts, kind + "s", getattr(counts, kind + "s") + 1)
            pending += 1
            if pending >= LINES_PER_WRITE:
                flush()
        flush()
    seconds = time.perf_counter() - started
    click.echo(f"imported {counts} from {file} {_rate(counts, seconds)}", err=True)
