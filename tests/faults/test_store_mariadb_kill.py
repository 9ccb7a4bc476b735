"""MariaDB SIGKILLed under add_chat load, then started again.

On a MariaDB instance of its own (mariadb-install-db into a temporary folder, run as the
``mysql`` user on its own free port and socket, never the machine's shared server), a real
`huihua serve` under add_chat load sees mariadbd killed with SIGKILL ROUNDS times and
restarted (InnoDB crash recovery). Proves:
- while the store is down, every write is answered ok 8 (HTTP 503) within 2 s of being
  sent (a write in flight when the store went down: within 2 s of its being down): no hang,
  no ok 9, and no reply is lost; /healthz answers ok 8;
- once the store is back, the same server process, never restarted, answers /healthz ok 0
  and acknowledges writes again;
- every acknowledged write is stored once at its seq, seqs run 1..n, and every write never
  acknowledged, retried with its request_id, is stored exactly once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import MySQLdb
import pytest

from tests.conftest import free_port

from ._store_harness import wait_until
from ._store_outage import bounce_under_load

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

ROUNDS = 3
DATABASE = "huihua_faults"


class MariaDB:
    """A throwaway mariadbd run as the ``mysql`` user on a datadir in a temporary folder it
    owns, listening on 127.0.0.1 at its own port and on its own socket; no grant tables
    (anyone on loopback is root: a test instance only)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="huihua-faults-mariadb-"))
        shutil.chown(self.root, "mysql", "mysql")
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"mysql://root@127.0.0.1:{self.port}/{DATABASE}"
        self.process: subprocess.Popen | None = None
        installed = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.data}",
                "--user=mysql",
                "--skip-test-db",
            ],
            **self._as_mysql(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
        assert installed.returncode == 0, installed.stdout.decode(errors="replace")

    def _as_mysql(self) -> dict:
        return {
            "user": "mysql",
            "group": "mysql",
            "extra_groups": [],
            "cwd": self.root,
            "stdin": subprocess.DEVNULL,
            "env": {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.root)},
        }

    def start(self) -> None:
        """Start mariadbd; return once it accepts connections (and the database exists)."""
        self.process = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={self.data}",
                "--user=mysql",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.root}/sock",
                f"--pid-file={self.root}/mariadbd.pid",
                f"--log-error={self.root}/error.log",
                "--skip-grant-tables",  # a test instance: anyone on loopback is root
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--character-set-server=utf8mb4",
                "--innodb-flush-log-at-trx-commit=1",  # durable commits (the default)
            ],
            **self._as_mysql(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, 60, f"mariadbd accepts connections\n{self.log()}")
        conn = self._connect()
        try:
            conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4")
        finally:
            conn.close()

    def _connect(self) -> MySQLdb.Connection:
        return MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=5)

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"mariadbd exited with {self.process.returncode}\n{self.log()}")
        try:
            self._connect().close()
        except MySQLdb.OperationalError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL mariadbd (only the process this object started) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)

    def log(self) -> str:
        try:
            return (self.root / "error.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def test_mariadb_killed_under_load_and_restarted(tmp_path: Path) -> None:
    mariadb = MariaDB()
    bounce_under_load("mariadb SIGKILL", mariadb, mariadb.kill, ROUNDS, tmp_path)
