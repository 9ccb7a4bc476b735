"""`huihua serve` refusing to start: one line naming the cause, never a traceback, and
nothing created or logged as serving before the cause is found (issue 13)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest

from .conftest import free_port
from .test_cli import HUIHUA, _env, _wait_healthy


def _serve(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUIHUA, "serve", "--port", str(free_port()), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "serving on" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sqlite://huihua.db", ["names no file", "sqlite:///huihua.db"]),
        ("sqlite:///:memory:", ["in-memory", "nothing would be kept"]),
        ("sqlite://", ["in-memory"]),
    ],
)
def test_a_sqlite_url_that_keeps_nothing_is_refused(tmp_path: Path, url: str, words: list[str]):
    _refused(_serve(tmp_path, "--database-url", url), *words)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path):
    (tmp_path / "notes.db").write_text("these are not the droids\n" * 100)
    _refused(_serve(tmp_path, "--database-url", "sqlite:///notes.db"), "not a database")


@pytest.mark.slow
def test_a_schema_newer_than_this_huihua_is_refused(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    subprocess.run([*HUIHUA, "migrate", "--database-url", url], env=_env(), check=True)
    with sqlite3.connect(tmp_path / "new.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfacefeed'")
    for command in ("serve", "migrate"):
        args = ["--port", str(free_port())] if command == "serve" else []
        result = subprocess.run(
            [*HUIHUA, command, *args, "--database-url", url],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        _refused(result, "f00dfacefeed", "newer huihua")


def test_a_missing_folder_is_named(tmp_path: Path):
    line = _refused(_serve(tmp_path, "--database-url", "sqlite:///nowhere/chat.db"))
    assert str(tmp_path / "nowhere") in line and "does not exist" in line


def test_a_read_only_folder_is_named(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    # root ignores file modes: a read-only mount refuses writes to everyone
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)])
    if mounted.returncode != 0:
        folder.chmod(0o555)
        probe = folder / "probe"
        try:
            probe.touch()
        except PermissionError:
            pass
        else:
            pytest.skip("cannot make a read-only folder here (root without mount)")
    try:
        line = _refused(_serve(tmp_path, "--database-url", "sqlite:///ro/chat.db"))
        assert str(folder) in line and "not writable" in line
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", str(folder)], check=True)


def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path):
    result = subprocess.run(
        [*HUIHUA, "serve", "--port", "70000"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2  # click's usage error
    assert "--port" in result.stderr and "70000" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_port_in_use_is_reported_before_anything_is_created(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*HUIHUA, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    _refused(result, f"127.0.0.1:{port}", "in use")
    assert not (tmp_path / "huihua.db").exists()


@pytest.mark.slow
def test_several_workers_on_sqlite_are_warned_about(tmp_path: Path):
    port = free_port()
    process = subprocess.Popen(
        [*HUIHUA, "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_healthy(f"http://127.0.0.1:{port}", process).json()["ok"] == 0
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "workers: 2 processes on SQLite" in stderr
    assert "writes take turns at the one write lock" in stderr
