"""PostgreSQL stopped with `pg_ctl -m immediate` under add_chat load, then started again.

On a PostgreSQL instance of its own (initdb into a temporary folder, its own free port,
never the machine's shared server), a real `huihua serve` under add_chat load sees its
store stopped the hard way (every backend killed, no checkpoint) ROUNDS times. Proves:
- while the store is down, every write is answered ok 8 (HTTP 503) within 2 s of being
  sent (a write in flight when the store went down: within 2 s of its being down): no hang,
  no ok 9, and no reply is lost; /healthz answers ok 8;
- once the store is back (crash recovery), the same server process, never restarted,
  answers /healthz ok 0 and acknowledges writes again;
- every acknowledged write is stored once at its seq, seqs run 1..n, and every write never
  acknowledged, retried with its request_id, is stored exactly once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import free_port

from ._store_outage import bounce_under_load

pytestmark = [pytest.mark.postgresql, pytest.mark.slow]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ROUNDS = 3


class Postgres:
    """A throwaway PostgreSQL cluster run as the ``postgres`` user (initdb and postgres
    refuse root) in a temporary folder it owns, listening on 127.0.0.1 at its own port."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="huihua-faults-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run(
            PG_BIN / "initdb",
            "-D",
            self.data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def _run(self, *argv: object) -> None:
        result = subprocess.run(
            [str(a) for a in argv],
            user="postgres",
            group="postgres",
            extra_groups=[],
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.root), "LANG": "C.UTF-8"},
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
        assert result.returncode == 0, (argv, result.stdout.decode(errors="replace"), self.log())

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            PG_BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.root / "postgres.log",
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def stop_immediately(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def log(self) -> str:
        try:
            return (self.root / "postgres.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                user="postgres",
                group="postgres",
                extra_groups=[],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def test_postgresql_stopped_immediately_under_load_and_started_again(tmp_path: Path) -> None:
    postgres = Postgres()
    bounce_under_load(
        "postgresql stop -m immediate", postgres, postgres.stop_immediately, ROUNDS, tmp_path
    )
