"""Messages per second written as whole turns (/add_chats, two messages a call) against one
message a call (/add_chat), on one server, alternating in one run.

    python3 bench/turns.py                        # SQLite, 3 rounds of 5 s each
    python3 bench/turns.py --stores sqlite,postgresql,mysql --rounds 3 --duration 5

A chat back end writes the question and the reply of a turn; in one call it is one request,
one transaction and one fsync instead of two. Each round measures both with wrk (as
bench/run.py does: one thread, 64 connections, 8 writers with one session each) and the
medians are printed with their ratio in messages per second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from run import add_chat_env, seed_http
from servers import BENCH, Server, database, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="turns-") as tmp:
        for kind in args.stores.split(","):
            workers = 1 if kind == "sqlite" else args.server_workers
            single: list[float] = []
            turns: list[float] = []
            with database(kind, Path(tmp)) as url:
                server = Server(url, workers, Path(tmp))
                try:
                    seed_http(server.base)
                    for _ in range(args.rounds):
                        one = measure(server, "add_chat.lua", add_chat_env(), args)
                        two = measure(server, "add_chats.lua", add_chat_env(), args)
                        if one["errors"] or two["errors"]:
                            sys.exit(f"{kind}: errors under load: {one} {two}")
                        single.append(one["rps"])
                        turns.append(2 * two["rps"])
                        print(
                            f"  {kind}: add_chat {one['rps']:,.0f} msg/s (p99 "
                            f"{one['p99_ms']:.0f} ms), add_chats {2 * two['rps']:,.0f} msg/s "
                            f"({two['rps']:,.0f} calls/s, p99 {two['p99_ms']:.0f} ms)",
                            flush=True,
                        )
                finally:
                    server.stop()
            a, b = statistics.median(single), statistics.median(turns)
            print(
                f"{kind} ({workers} worker{'s' if workers > 1 else ''}): median add_chat "
                f"{a:,.0f} msg/s, add_chats (2-message turns) {b:,.0f} msg/s: {b / a:.2f}x"
            )


if __name__ == "__main__":
    main()
