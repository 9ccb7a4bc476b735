"""The operator's commands as an operator meets them: a store that does not exist is refused
(and not made), progress shows on a terminal but never in a pipe, and the README's
`huihua migrate --create-database` makes a PostgreSQL or MariaDB database, then its schema.

The terminal is a real pseudo-terminal (pty) on the command's stderr, as when an operator
runs it by hand; the pipe is what a script or a cron job gives it.
"""

from __future__ import annotations

import os
import pty
import re
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import make_url

from .conftest import MYSQL_URL, POSTGRES_URL
from .test_cli import HUIHUA, _env

if TYPE_CHECKING:
    from .conftest import Api

# Each command that reads a store, with the arguments it needs besides the store.
READERS = {
    "stats": ["stats"],
    "export": ["export", "--out", "dump.jsonl"],
    "export to stdout": ["export"],
    "purge": ["purge"],
    "backup": ["backup", "copy.db"],
}


def _everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("command", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize("where", ["missing.db", "no/such/folder/huihua.db", None])
def test_a_command_that_reads_a_store_refuses_one_that_does_not_exist(
    tmp_path: Path, command: list[str], where: str | None
) -> None:
    # None: the default, huihua.db in the working directory
    env = _env() if where is None else _env(HUIHUA_DATABASE_URL=f"sqlite:///{tmp_path / where}")
    result = subprocess.run(
        [*HUIHUA, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0, result.stdout
    assert "no SQLite store at" in result.stderr, result.stderr
    assert str(tmp_path / (where or "huihua.db")) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert _everything_under(tmp_path) == []  # no store, no -wal, no dump, no copy


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run huihua with its stderr on a pseudo-terminal; return the exit code, stdout, and
    what the terminal was sent."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*HUIHUA, *args],
        cwd=cwd,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the command has closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=60), out, shown.decode(errors="replace")


def _store_with_a_session(serve) -> str:
    api: Api = serve("sqlite")
    user_id = api.new_user()
    for msg in ("一", "二", "三"):
        body = {"user_id": user_id, "session_id": "s", "role": "user", "msg": msg}
        assert api.call("/add_chat", **body)["ok"] == 0
    return api.settings.database_url


# Each command, and what its progress line says on a terminal.
PROGRESS = {
    "stats": (["stats"], "counting chat_messages"),
    "export": (["export", "--out", "dump.jsonl"], "exporting"),
    "purge": (["purge"], "purging:"),
    "backup": (["backup", "copy.db"], "backing up:"),
}


@pytest.mark.slow
@pytest.mark.parametrize(("command", "progress"), PROGRESS.values(), ids=PROGRESS.keys())
def test_progress_shows_on_a_terminal_and_never_in_a_pipe(
    serve, tmp_path: Path, command: list[str], progress: str
) -> None:
    url = _store_with_a_session(serve)
    args = [*command, "--database-url", url]
    for folder in ("terminal", "pipe"):
        (tmp_path / folder).mkdir()
    code, out, shown = _on_a_terminal(args, tmp_path / "terminal")
    assert code == 0, shown
    assert progress in shown, shown
    assert "\x1b[K" in shown or "exporting" in shown  # the line is cleared, or click's bar
    piped = subprocess.run(
        [*HUIHUA, *args], cwd=tmp_path / "pipe", env=_env(), capture_output=True, text=True
    )
    assert piped.returncode == 0, piped.stderr
    assert progress not in piped.stderr and "\r" not in piped.stderr, piped.stderr
    # what is left on stderr in a pipe is the result line of export and backup, or nothing
    assert len(piped.stderr.splitlines()) <= 1, piped.stderr
    # the result, on stdout, is the same either way (but for the seconds it took)
    assert out.split(" in ")[0].splitlines()[:4] == piped.stdout.split(" in ")[0].splitlines()[:4]


def _readme_store_commands() -> list[str]:
    """Return the lines of the README's ```sh block that migrates a server store."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Stores")[1].split("\n## ")[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.M | re.S)
    return next(b for b in blocks if "huihua migrate" in b).splitlines()


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_the_readmes_migrate_makes_the_database_then_its_schema(databases, kind: str) -> None:
    lines = _readme_store_commands()
    assert f"{kind}://" in lines[0]  # the README names this store's URL
    server = make_url(POSTGRES_URL if kind == "postgresql" else MYSQL_URL)
    name = f"huihua_test_{uuid.uuid4().hex[:12]}"
    databases.made.append((kind, name))  # dropped at the end of the run, if made
    env = _env(HUIHUA_DATABASE_URL=server.set(database=name).render_as_string(False))
    migrate = shlex.split(next(line for line in lines if line.startswith("huihua migrate")))
    assert "--create-database" in migrate
    first = subprocess.run([*HUIHUA, *migrate[1:]], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "database created" in first.stdout
    assert "schema upgraded from revision none" in first.stdout
    again = subprocess.run([*HUIHUA, *migrate[1:]], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("schema already at revision"), again.stdout
    stats = subprocess.run([*HUIHUA, "stats"], env=env, capture_output=True, text=True)
    assert stats.returncode == 0 and re.search(r"^users:\s+0$", stats.stdout, re.M), stats


@pytest.mark.postgresql
def test_migrate_without_the_database_says_how_to_make_it(databases) -> None:
    url = make_url(POSTGRES_URL).set(database=f"huihua_test_{uuid.uuid4().hex[:12]}")
    env = _env(HUIHUA_DATABASE_URL=url.render_as_string(False))
    result = subprocess.run([*HUIHUA, "migrate"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "does not exist" in result.stderr and "--create-database" in result.stderr
    assert "Traceback" not in result.stderr
