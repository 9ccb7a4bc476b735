"""A purge of 1,000,000 expired idempotency records while add_chat is served (issue 12).

    python3 bench/purge.py                      # 1,000,000 records, SQLite
    PYTHONPATH=$PWD/src python3 bench/purge.py --records 200000

A fresh SQLite store gets ``--records`` idempotency records 48 hours old (bulk insert),
and a real ``huihua serve`` (one worker, the default settings) is driven with wrk's
add_chat load (64 connections, as bench/run.py) in slices of ``--slice`` seconds:

1. baseline: nothing to purge (the server's own sweep is given a window of 10^6 hours);
2. ``huihua purge`` from another process, the slices running until it ends;
3. the server's own background sweep (``HUIHUA_PURGE_INTERVAL=5``), over records loaded
   again, the slices running until its log line says what it removed.

For each it prints add_chat's rps and p99 of every slice, their median and worst p99, and
the purge's time and rate. Needs wrk (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from run import add_chat_env, seed_http
from servers import BENCH, HUIHUA_SERVE, Server, database, wrk

HOUR_MS = 3_600_000


class Configured(Server):
    """``huihua serve`` with settings of its own besides the store's URL."""

    def __init__(self, url: str, workdir: Path, **settings: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
        env |= {"HUIHUA_DATABASE_URL": url}  # the default log level: the sweep's line is info
        env |= {f"HUIHUA_{k.upper()}": v for k, v in settings.items()}
        self.workdir = workdir
        self._start(list(HUIHUA_SERVE), env, workdir)

    def log(self) -> str:
        return (self.workdir / f"server-{self.port}.log").read_text()


def load_records(url: str, count: int) -> float:
    """Insert ``count`` idempotency records made 48 hours ago; return the seconds it took."""
    path = url.removeprefix("sqlite:///")
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")  # a bulk load, not the service's writes
    old = int(time.time() * 1000) - 48 * HOUR_MS
    response = '{"request_id":"r","ok":0,"failed":"","session_id":"s-1","seq":1}'
    step = 100_000
    for first in range(0, count, step):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO idempotency_records (user_id, request_id, fingerprint, response, "
            "created_at) VALUES (?, ?, ?, ?, ?)",
            [
                (f"bench-{i % 64}", f"old-{i}", "f" * 64, response, old + i)
                for i in range(first, min(first + step, count))
            ],
        )
        db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    os.sync()
    return time.perf_counter() - started


def slices(server: Server, args: Any, running: Any) -> list[dict[str, float]]:
    """Drive add_chat in slices until ``running()`` is false (at least one slice)."""
    found = []
    while True:
        out = wrk(server.base, "add_chat.lua", add_chat_env(), args.slice, args.connections)
        found.append(
            {
                "rps": out["requests"] / (out["duration_us"] / 1e6),
                "p99_ms": out["p99_us"] / 1000,
                "errors": out["errors"],
            }
        )
        if not running():
            return found


def report(name: str, found: list[dict[str, float]]) -> float:
    p99s = [s["p99_ms"] for s in found]
    each = ", ".join(f"{s['rps']:,.0f} rps p99 {s['p99_ms']:.1f} ms" for s in found)
    errors = sum(s["errors"] for s in found)
    print(f"  {name}: {len(found)} slices: {each}; errors {errors}")
    median = statistics.median(p99s)
    print(f"  {name}: p99 median {median:.1f} ms, worst {max(p99s):.1f} ms")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--slice", type=int, default=3, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    print(f"huihua purge bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="purge-") as tmp:
        workdir = Path(tmp)
        with database("sqlite", workdir) as url:
            seconds = load_records(url, args.records)
            print(f"loaded {args.records:,} records 48 h old in {seconds:.1f} s")
            # the server's own sweep finds nothing expired: only `huihua purge` deletes
            server = Configured(url, workdir, idempotency_hours="1000000")
            try:
                seed_http(server.base)
                wrk(server.base, "add_chat.lua", add_chat_env(), 1, args.connections)  # warm
                base = report(
                    "baseline",
                    slices(server, args, lambda: False) + slices(server, args, lambda: False),
                )
                env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
                started = time.perf_counter()
                purge = subprocess.Popen(
                    [sys.executable, "-m", "huihua", "purge", "--database-url", url],
                    env=env,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                during = report("huihua purge", slices(server, args, lambda: purge.poll() is None))
                took = time.perf_counter() - started
                said = purge.communicate()[0].strip()
                print(f"  huihua purge: {said!r}; {args.records / took:,.0f} records/s")
                print(f"  huihua purge: p99 {during / base:.2f}x the baseline's (median)")
            finally:
                server.stop()
            load_records(url, args.records)
            server = Configured(url, workdir, purge_interval="5")
            started = time.perf_counter()
            try:
                seed_http(server.base)

                def sweeping() -> bool:
                    return "retention: removed" not in server.log()

                during = report("background sweep", slices(server, args, sweeping))
                line = re.search(r"retention: removed .*", server.log())
                print(f"  background sweep: {line.group(0) if line else '?'}")
                print(f"  background sweep: p99 {during / base:.2f}x the baseline's (median)")
            finally:
                server.stop()
                del started


if __name__ == "__main__":
    main()
