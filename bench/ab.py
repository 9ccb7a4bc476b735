"""A/B: two builds of huihua on this machine in one run, alternated, and their ratio.

Each build is ``git archive``d from its ref into a temporary directory (or, for
``worktree``, is this checkout's ``src/`` as it is on disk, uncommitted changes included).
For each run, build A then build B (B then A on odd runs, so drift over the run falls on
both alike) gets a ``huihua serve`` of its own code (``PYTHONPATH=<build>/src``, one worker)
on a fresh SQLite store, seeded over HTTP as bench/run.py seeds it, and wrk drives add_chat
and the 50-message query_session_info for ``--duration`` seconds each. This process talks
to the servers over HTTP only and imports nothing of huihua, so the two builds may differ
in anything but the API. It prints each run's figures, then the medians per build and
head/base.

    python3 bench/ab.py --base main                    # main against this work tree
    python3 bench/ab.py --base HEAD~1 --head HEAD --runs 5 --duration 5
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from run import _row, add_chat_env, reads, seed_http
from servers import BENCH, Server, measure

REPO = BENCH.parent
READ = "query_session_info(50)"
ENDPOINTS = ("add_chat", READ)


@dataclass
class Build:
    name: str  # "base" or "head"
    src: Path  # put on the server's PYTHONPATH
    label: str
    runs: list[dict[str, dict[str, Any]]] = field(default_factory=list)


def git(*args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def build(name: str, ref: str, tmp: Path) -> Build:
    """Return the build of ``ref``: a ``git archive`` of it under ``tmp``, or the work tree."""
    if ref == "worktree":
        dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "src") else ""
        label = f"work tree {REPO} ({git('log', '-1', '--format=%h %s')}{dirty})"
        return Build(name, REPO / "src", label)
    commit = git("rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")
    tree = tmp / name
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    if not (tree / "src" / "huihua").is_dir():
        sys.exit(f"{ref}: no src/huihua in that commit")
    return Build(name, tree / "src", f"{ref} = {git('log', '-1', '--format=%h %s', commit)}")


def measure_build(b: Build, args: Any, tmp: Path) -> dict[str, dict[str, Any]]:
    """Serve one build on a fresh SQLite store, seed it over HTTP and measure both loads."""
    with tempfile.TemporaryDirectory(dir=tmp, prefix=f"{b.name}-") as work:
        server = Server(f"sqlite:///{work}/bench.db", 1, Path(work), src=b.src)
        try:
            bodies = seed_http(server.base)
            out = {"add_chat": measure(server, "add_chat.lua", add_chat_env(), args)}
            print(f"  {'add_chat':<26} {_row(out['add_chat'])}", flush=True)
            out |= reads(server, {READ: bodies[READ]}, args)
        finally:
            server.stop()
    return out


def summary(base: Build, head: Build) -> None:
    """Print per endpoint the medians per build and head/base, then the runs behind them."""
    print()
    for endpoint in ENDPOINTS:
        b = [r[endpoint]["rps"] for r in base.runs]
        h = [r[endpoint]["rps"] for r in head.runs]
        mb, mh = statistics.median(b), statistics.median(h)
        print(f"{endpoint} median: base {mb:,.0f} rps, head {mh:,.0f} rps, head/base {mh / mb:.3f}")
        ratios = " ".join(f"{y / x:.3f}" for x, y in zip(b, h, strict=True))
        print(f"  head/base run by run: {ratios}")
        print(f"  rps by run: base {_list(b)}; head {_list(h)}")
        cb = statistics.median(r[endpoint]["cpu_us"] for r in base.runs)
        ch = statistics.median(r[endpoint]["cpu_us"] for r in head.runs)
        print(
            f"  server CPU per request, median: base {cb:.0f} µs, head {ch:.0f} µs, "
            f"head/base {ch / cb:.3f}"
        )
        p99b = statistics.median(r[endpoint]["p99_ms"] for r in base.runs)
        p99h = statistics.median(r[endpoint]["p99_ms"] for r in head.runs)
        print(f"  p99 median: base {p99b:.1f} ms, head {p99h:.1f} ms")


def _list(values: list[float]) -> str:
    return " ".join(f"{v:,.0f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git ref of build A")
    parser.add_argument(
        "--head", default="worktree", help="git ref of build B, or 'worktree' (the default)"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds per load")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs: at least 1")
    if shutil.which("wrk") is None:
        sys.exit("bench needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="ab-") as tmp:
        base = build("base", args.base, Path(tmp))
        head = build("head", args.head, Path(tmp))
        print(f"base: {base.label}\nhead: {head.label}")
        print(f"{args.runs} runs, {args.duration} s per load, {args.connections} connections")
        for i in range(args.runs):
            for b in (base, head) if i % 2 == 0 else (head, base):
                print(f"\nrun {i + 1}/{args.runs}, {b.name}", flush=True)
                b.runs.append(measure_build(b, args, Path(tmp)))
    summary(base, head)


if __name__ == "__main__":
    main()
