"""The reply cap's memory: four capped reads of a huge session at once, and the server's RSS.

    python3 bench/reply_cap.py                             # SQLite
    python3 bench/reply_cap.py --stores sqlite,postgresql,mysql

A session of 1,000 messages of 65,536 characters is 64 MiB of text (ASCII; 256 MiB of UTF-8
with four-byte characters): read whole, one reply would be that big. With the 4 MiB cap
(docs/api.md §3) each page keeps what fits, read in batches. This starts a real ``huihua serve``,
fills such a session, then sends four reads of its newest page at once, several times over,
sampling the server's RSS every 10 ms, and prints the peak growth over the RSS before the
reads (the issue's bound: 64 MiB) with the size of each reply.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import tempfile
import time
from pathlib import Path

import httpx

from servers import BENCH, PeakRss, Server, database

MESSAGES, CHARS, PER_CALL, READERS = 1_000, 65_536, 15, 4


def fill(base: str, char: str) -> None:
    per_call = PER_CALL if len(char.encode()) == 1 else 3  # bodies stay under 1 MiB
    with httpx.Client(base_url=base, timeout=60) as http:
        http.post("/add_user", json={"user_id": "big", "user_name": "big"}).raise_for_status()
        for first in range(0, MESSAGES, per_call):
            n = min(per_call, MESSAGES - first)
            chats = [{"role": "user", "msg": char * CHARS} for _ in range(n)]
            body = {"user_id": "big", "session_id": "big", "chats": chats}
            reply = http.post("/add_chats", json=body).json()
            assert reply["ok"] == 0, reply


def capped_reads(server: Server, rounds: int) -> tuple[int, int, list[int]]:
    """Return the RSS before, the peak during, and the reply sizes."""

    def read(after: bool) -> int:
        body = {"user_id": "big", "session_id": "big", **({"after_seq": 0} if after else {})}
        with httpx.Client(base_url=server.base, timeout=120) as http:
            response = http.post("/query_session_info", json=body)
        assert response.json()["ok"] == 0
        return len(response.content)

    sizes: list[int] = []
    with PeakRss(server) as rss, concurrent.futures.ThreadPoolExecutor(READERS) as pool:
        for r in range(rounds):
            sizes += pool.map(read, [bool((r + i) % 2) for i in range(READERS)])
    return rss.before, rss.peak, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server-workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="cap-") as tmp:
        for kind in args.stores.split(","):
            for label, char in (("ASCII", "x"), ("4-byte", "😀")):
                with database(kind, Path(tmp)) as url:
                    server = Server(url, args.server_workers, Path(tmp))
                    try:
                        started = time.monotonic()
                        fill(server.base, char)
                        filled = time.monotonic() - started
                        before, peak, sizes = capped_reads(server, args.rounds)
                    finally:
                        server.stop()
                mib = 2**20
                print(
                    f"{kind}, 1,000 messages of 65,536 {label} characters (filled in "
                    f"{filled:.0f} s): {READERS} capped reads at once x {args.rounds}: RSS "
                    f"{before / mib:.0f} MiB before, peak {peak / mib:.0f} MiB, growth "
                    f"{(peak - before) / mib:.1f} MiB; replies {min(sizes) / mib:.2f}-"
                    f"{max(sizes) / mib:.2f} MiB",
                    flush=True,
                )


if __name__ == "__main__":
    main()
