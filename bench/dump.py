"""`huihua export` and `huihua import` rates (issue 12), with the dump checked byte for byte.

    python3 bench/dump.py                                   # 200,000 messages, SQLite
    python3 bench/dump.py --stores sqlite,postgresql,mysql --messages 100000
    PYTHONPATH=$PWD/src python3 bench/dump.py               # this checkout's code

A SQLite store is filled by bulk insert with ``--messages`` messages (users of 10 sessions
of 20 messages, the text of bench/run.py's load); ``huihua export --out`` dumps it (timed,
as a process, as an operator runs it), then ``huihua import`` loads the dump into a fresh
store of each kind in ``--stores`` and exports it again, which must give the same bytes.
It prints messages per second of each step and the dump's size.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import MSG
from servers import BENCH, database

SESSIONS_EACH = 10
MESSAGES_EACH = 20


def fill(url: str, messages: int) -> None:
    """Bulk insert users, sessions and ``messages`` messages into the SQLite store."""
    db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")  # a bulk load, not the service's writes
    users = max(1, messages // (SESSIONS_EACH * MESSAGES_EACH))
    now = 1_700_000_000_000
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO users (user_id, user_name, phone, email, profile, created_at, updated_at) "
        "VALUES (?, '用户', '13800000000', '', '{\"level\":3}', ?, ?)",
        [(f"user-{u:06d}", now, now) for u in range(users)],
    )
    db.executemany(
        "INSERT INTO chat_sessions (user_id, session_id, session_title, chat_count, "
        "created_at, updated_at) VALUES (?, ?, '秋天的诗', ?, ?, ?)",
        [
            (f"user-{u:06d}", f"s{s}", MESSAGES_EACH, now, now + s)
            for u in range(users)
            for s in range(SESSIONS_EACH)
        ],
    )
    db.executemany(
        "INSERT INTO chat_messages (user_id, session_id, seq, role, msg, meta, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (
                f"user-{u:06d}",
                f"s{s}",
                m + 1,
                "user" if m % 2 == 0 else "ai",
                MSG,
                None if m % 2 == 0 else '{"model":"bench","tokens":42}',
                now + m,
            )
            for u in range(users)
            for s in range(SESSIONS_EACH)
            for m in range(MESSAGES_EACH)
        ),
    )
    db.execute("COMMIT")
    db.close()


def huihua(*args: str) -> float:
    """Run a huihua command; return the seconds it took (exit on failure)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "huihua", *args], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"huihua {args[0]} failed:\n{result.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--stores", default="sqlite")
    args = parser.parse_args()
    total = (args.messages // (SESSIONS_EACH * MESSAGES_EACH)) * SESSIONS_EACH * MESSAGES_EACH
    print(f"huihua dump bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="dump-") as tmp:
        workdir = Path(tmp)
        with database("sqlite", workdir) as url:
            fill(url, args.messages)
            dump = workdir / "dump.jsonl"
            seconds = huihua("export", "--database-url", url, "--out", str(dump))
            size = dump.stat().st_size
            print(
                f"export   sqlite      {total:>9,} messages in {seconds:6.1f} s: "
                f"{total / seconds:>8,.0f} messages/s ({size / 2**20:,.0f} MiB)"
            )
            for kind in args.stores.split(","):
                sub = workdir / kind
                sub.mkdir()
                with database(kind, sub) as target:
                    seconds = huihua("import", "--database-url", target, str(dump))
                    print(
                        f"import   {kind:<11} {total:>9,} messages in {seconds:6.1f} s: "
                        f"{total / seconds:>8,.0f} messages/s"
                    )
                    again = sub / "again.jsonl"
                    seconds = huihua("export", "--database-url", target, "--out", str(again))
                    same = again.read_bytes() == dump.read_bytes()
                    print(
                        f"export   {kind:<11} {total:>9,} messages in {seconds:6.1f} s: "
                        f"{total / seconds:>8,.0f} messages/s; the same bytes: {same}"
                    )


if __name__ == "__main__":
    main()
