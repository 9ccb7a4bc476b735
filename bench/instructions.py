"""Instructions per request of two builds, counted by valgrind: the A/B that noise can't move.

Wall-clock A/B runs (bench/ab.py) on a shared two-core machine move ±10–30% run to run.
This counts the CPU instructions the server's own code executes per request instead:
bench/inprocess.py drives each build's app in-process for N1 and then N2 requests under
``valgrind --tool=cachegrind --cache-sim=no``, and the difference divided by N2 - N1 is the
cost of one request with start-up taken out. It does not see what the kernel, the network
or the disk cost, which is the same for both builds. Needs Debian's ``valgrind``.

    python3 bench/instructions.py --base main                 # main against this work tree
    python3 bench/instructions.py --base 9cd5c6c --head HEAD
    python3 bench/instructions.py --base main --loop uvloop   # on huihua serve's loop
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ab import build

BENCH = Path(__file__).resolve().parent
MODES = {"add": "add_chat", "read": "query_session_info(50)"}


def instructions(src: Path, mode: str, n: int, loop: str = "asyncio") -> int:
    """Return the instructions valgrind counted for one in-process run of ``n`` requests."""
    return counted(src, [str(BENCH / "inprocess.py"), mode, str(n), loop])


def counted(src: Path, script: list[str]) -> int:
    """Return the instructions valgrind counted for ``python3 *script`` running ``src``."""
    # sys.executable as is: its realpath would leave a virtual environment (and its packages)
    python = sys.executable
    result = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            python,
            *script,
        ],
        env=os.environ | {"PYTHONPATH": str(src), "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if result.returncode != 0 or found is None:
        sys.exit(f"valgrind run failed ({src}, {' '.join(script)}):\n{result.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git ref of build A")
    parser.add_argument("--head", default="worktree", help="git ref of build B, or 'worktree'")
    parser.add_argument("--modes", default="add,read", help="of: add (add_chat), read")
    parser.add_argument("--n1", type=int, default=200, help="requests of the short run")
    parser.add_argument("--n2", type=int, default=1800, help="requests of the long run")
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the event loop of the load (uvloop: the one huihua serve runs)",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("needs valgrind: apt-get install valgrind")
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="instr-") as tmp:
        builds = [build("base", args.base, Path(tmp)), build("head", args.head, Path(tmp))]
        for b in builds:
            print(f"{b.name}: {b.label}")
        for mode, name in MODES.items():
            if mode not in args.modes.split(","):
                continue
            per = {}
            for b in builds:
                short = instructions(b.src, mode, args.n1, args.loop)
                long = instructions(b.src, mode, args.n2, args.loop)
                per[b.name] = (long - short) / (args.n2 - args.n1)
                print(f"  {name:<24} {b.name}: {per[b.name]:,.0f} instructions/request")
            print(f"{name}: head/base {per['head'] / per['base']:.3f}")


if __name__ == "__main__":
    main()
