"""A full disk under a running SQLite server (API.md §1, issue 13): writes get ok 8,
`/healthz` answers ok 8 with the reason, the log names the cause, nothing is corrupted,
and both recover once space is freed.

The store lives on a 4 MiB tmpfs mounted for the test (we run as root); where mounting is
not allowed the test is skipped rather than faked.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .test_lifecycle import serve, stop


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(path: Path) -> None:
    with path.open("wb", buffering=0) as filler:
        for size in (65536, 4096, 512):  # what is left, to the last block
            try:
                while True:
                    filler.write(b"\0" * size)
            except OSError:
                continue


@pytest.mark.slow
def test_a_full_disk_is_ok_8_on_writes_and_healthz_until_space_is_freed(
    tmp_path: Path, small_disk: Path
):
    served = serve(tmp_path, database_url=f"sqlite:///{small_disk / 'huihua.db'}")
    try:
        with httpx.Client(base_url=served.base, timeout=30) as http:
            assert http.post("/add_user", json={"user_id": "u1"}).json()["ok"] == 0
            first = http.post("/add_chat", json={"user_id": "u1", "role": "user", "msg": "hi"})
            session_id = first.json()["session_id"]
            _fill(small_disk / "filler")
            chat = {"user_id": "u1", "session_id": session_id, "role": "user"}
            refused = None
            for i in range(200):  # the WAL takes what is left in the last pages first
                reply = http.post("/add_chat", json={**chat, "msg": f"{i} " + "x" * 8000})
                if reply.json()["ok"] != 0:
                    refused = reply
                    break
            assert refused is not None, "the disk never filled"
            assert refused.status_code == 503 and refused.json()["ok"] == 8
            health = http.get("/healthz")
            assert health.status_code == 503, health.text
            failed = health.json()["failed"]
            assert health.json()["ok"] == 8
            assert "refusing writes since" in failed and "disk is full" in failed
            assert "sqlite=SQLITE_FULL/13" in failed
            # reads still answer meanwhile
            read = http.post(
                "/query_session_info", json={"user_id": "u1", "session_id": session_id}
            )
            assert read.json()["ok"] == 0
            (small_disk / "filler").unlink()
            again = http.post("/add_chat", json={**chat, "msg": "after"})
            assert again.json()["ok"] == 0, again.text
            assert http.get("/healthz").json()["ok"] == 0
    finally:
        log = stop(served)
    assert "store refusing writes: disk full: sqlite3.OperationalError sqlite=SQLITE_FULL/13" in log
    assert "store takes writes again" in log
    assert "Traceback" not in log
    with sqlite3.connect(small_disk / "huihua.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        msgs = [m for (m,) in conn.execute("SELECT msg FROM chat_messages ORDER BY seq")]
    assert msgs[0] == "hi" and msgs[-1] == "after"


class _Fake(Exception):
    def __init__(self, **attributes: object) -> None:
        super().__init__("no room")
        self.__dict__.update(attributes)


def test_each_store_s_disk_full_is_recognised_and_nothing_else():
    from huihua.store.errors import disk_full

    assert disk_full(_Fake(sqlite_errorcode=13, sqlite_errorname="SQLITE_FULL"))
    assert disk_full(_Fake(sqlstate="53100"))  # PostgreSQL disk_full
    assert not disk_full(_Fake(sqlite_errorcode=5, sqlite_errorname="SQLITE_BUSY"))
    assert not disk_full(_Fake(sqlstate="08006"))  # connection failure: unavailable, not full
    wrapped = _Fake()
    wrapped.__cause__ = _Fake(sqlstate="53100")
    assert disk_full(wrapped)
