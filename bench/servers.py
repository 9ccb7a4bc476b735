"""The processes a bench drives, and how: a database made and dropped for a store, a
``huihua serve`` (or the bare ASGI ceiling) started and stopped with its RSS and CPU read,
and wrk run against it. bench/run.py and the other benches import these.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "lua"
SERVER_URLS = {
    "postgresql": os.environ.get(
        "HUIHUA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
    "mysql": os.environ.get("HUIHUA_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/"),
}
HUIHUA_SERVE = (sys.executable, "-m", "huihua", "serve")
WRK = ("wrk", "-t1", "--timeout", "10s")  # one thread keeps up; see README


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """Yield the URL of a fresh, migrated database of this kind; drop it afterwards."""
    from huihua.config import Settings
    from huihua.store import migrate
    from huihua.store.engine import store_kind

    if kind == "sqlite":
        path = workdir / "bench.db"
        url = f"sqlite:///{path}"
        migrate(Settings(database_url=url))
        try:
            yield url
        finally:
            # The growth run leaves gigabytes not yet written back; gone with the files,
            # the kernel drops them rather than writing them under the next store's load.
            for leftover in workdir.glob("bench.db*"):
                leftover.unlink()
        return
    name = f"huihua_bench_{uuid.uuid4().hex[:8]}"
    admin_url = store_kind(SERVER_URLS[kind]).url
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    quote = '"' if kind == "postgresql" else "`"
    charset = "" if kind == "postgresql" else " CHARACTER SET utf8mb4"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}{charset}"))
    url = make_url(SERVER_URLS[kind]).set(database=name).render_as_string(False)
    try:
        migrate(Settings(database_url=url))
        yield url
    finally:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}"))
        admin.dispose()


class Server:
    """A ``huihua serve`` process; its RSS is sampled while it is measured."""

    def __init__(self, url: str, workers: int, workdir: Path, src: Path | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
        env["HUIHUA_DATABASE_URL"] = url  # everything else as it runs by default
        if src is not None:  # this build's code, ahead of the installed one
            env["PYTHONPATH"] = str(src)
        self._start([*HUIHUA_SERVE, "--workers", str(workers)], env, workdir)
        time.sleep(0.5 if workers > 1 else 0)  # let every worker finish starting

    def _start(self, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        """Start ``argv --port N`` and wait until it answers ``GET /healthz``."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        log = workdir / f"server-{self.port}.log"
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(
                [*argv, "--port", str(self.port)],
                env=env,
                cwd=workdir,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{_tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start:\n{_tail(log)}")
            time.sleep(0.1)

    def rss_bytes(self) -> int:
        """Return the resident memory of the server and its worker processes."""
        pids = [self.process.pid, *_children(self.process.pid)]
        total = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def worker_rss_bytes(self) -> int:
        """Return the largest resident memory of one process that serves requests."""
        pids = _children(self.process.pid) or [self.process.pid]
        sizes = []
        for pid in pids:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]) * 1024)
        return max(sizes, default=0)

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) the server and its workers have used."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Ceiling(Server):
    """The HTTP ceiling: bench/ceiling.py, a bare ASGI app on the same server and options."""

    def __init__(self, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
        self._start([sys.executable, str(BENCH / "ceiling.py")], env, workdir)


def _tail(log: Path, lines: int = 20) -> str:
    """The end of a server's log, for the error (its directory is removed as the run ends)."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


# -- seeding ------------------------------------------------------------------------------


def wrk(base: str, script: str, env: dict[str, str], seconds: int, connections: int) -> Any:
    """Run wrk against the server; return its JSON summary."""
    result = subprocess.run(
        [*WRK, f"-c{connections}", f"-d{seconds}s", "-s", str(LUA / script), base],
        env=os.environ | env | {"BENCH_LUA_DIR": str(LUA)},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line.removeprefix("WRK_JSON "))
    raise RuntimeError(f"wrk printed no summary: {result.stdout}\n{result.stderr}")


def measure(server: Server, script: str, env: dict[str, str], args: Any) -> dict[str, Any]:
    """Drive one endpoint; return rps, p50, p99, errors and peak RSS."""
    peak = {"rss": 0, "worker": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            peak["rss"] = max(peak["rss"], server.rss_bytes())
            peak["worker"] = max(peak["worker"], server.worker_rss_bytes())

    # Warm up (caches, prepared statements) under request ids of its own: the measured
    # run's would otherwise begin with a second's worth of retries of the warm-up's.
    warm_env = env | {"BENCH_RUN": env["BENCH_RUN"] + "-warm"} if "BENCH_RUN" in env else env
    wrk(server.base, script, warm_env, 1, args.connections)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_before = server.cpu_seconds()
    try:
        out = wrk(server.base, script, env, args.duration, args.connections)
    finally:
        stop.set()
        sampler.join()
    cpu = server.cpu_seconds() - cpu_before
    return {
        "rps": out["requests"] / (out["duration_us"] / 1e6),
        # The server's CPU per request: steadier than rps on a shared machine, since
        # time the server spends waiting for a core it does not get is not counted.
        "cpu_us": cpu / max(1, out["requests"]) * 1e6,
        "p50_ms": out["p50_us"] / 1000,
        "p99_ms": out["p99_us"] / 1000,
        "errors": out["errors"],
        "rss_mib": peak["rss"] / 2**20,
        "worker_rss_mib": peak["worker"] / 2**20,
    }


class PeakRss:
    """The server's RSS before, and its peak while the ``with`` block runs (every 10 ms)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.before = self.peak = server.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.server.rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
