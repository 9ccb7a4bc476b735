"""/export_user_data of a user with 100,000 messages: time, size, and the server's RSS.

    python3 bench/export.py                          # SQLite
    python3 bench/export.py --stores sqlite,postgresql,mysql --messages 100000

Starts a real ``huihua serve``, gives one user ``--messages`` messages (100 sessions,
written as /add_chats turns of 100), then streams the export to a client that reads it as
it comes, sampling the server's RSS every 10 ms: the peak growth over the RSS before the
export is the figure docs/api.md §5.5 bounds (never the whole user in memory; issue 12: under
50 MiB).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx

from run import MSG
from servers import BENCH, PeakRss, Server, database

SESSIONS = 100


def fill(base: str, messages: int) -> None:
    per_session = messages // SESSIONS
    with httpx.Client(base_url=base, timeout=60) as http:
        http.post("/add_user", json={"user_id": "whole", "user_name": "whole"}).raise_for_status()
        for s in range(SESSIONS):
            for first in range(0, per_session, 100):
                n = min(100, per_session - first)
                chats = [
                    {"role": "user" if i % 2 == 0 else "ai", "msg": f"{first + i} {MSG}"}
                    for i in range(n)
                ]
                body = {"user_id": "whole", "session_id": f"s{s}", "chats": chats}
                assert http.post("/add_chats", json=body).json()["ok"] == 0


def export(server: Server) -> tuple[float, int, int, int]:
    """Return the seconds the export took, its bytes, and the RSS before and at peak."""
    started = time.monotonic()
    size = 0
    parts = []
    with (
        PeakRss(server) as rss,
        httpx.Client(base_url=server.base, timeout=300) as http,
        http.stream("POST", "/export_user_data", json={"user_id": "whole"}) as response,
    ):
        for chunk in response.iter_bytes():
            size += len(chunk)
            parts.append(chunk)
    took = time.monotonic() - started
    body = json.loads(b"".join(parts))
    assert body["ok"] == 0 and sum(len(s["chats"]) for s in body["sessions"]) > 0
    return took, size, rss.before, rss.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite")
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="export-") as tmp:
        for kind in args.stores.split(","):
            with database(kind, Path(tmp)) as url:
                server = Server(url, 1, Path(tmp))
                try:
                    started = time.monotonic()
                    fill(server.base, args.messages)
                    filled = time.monotonic() - started
                    took, size, before, peak = export(server)
                finally:
                    server.stop()
            mib = 2**20
            print(
                f"{kind}: export of {args.messages:,} messages ({size / mib:.1f} MiB of JSON, "
                f"filled in {filled:.0f} s) in {took:.1f} s ({args.messages / took:,.0f} "
                f"messages/s); server RSS {before / mib:.0f} MiB before, peak "
                f"{peak / mib:.0f} MiB: growth {(peak - before) / mib:.1f} MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
