"""Benchmark huihua on loopback, beside this machine's own ceiling, and print the figures.

For each store it starts a real ``huihua serve`` process, seeds it, and drives each endpoint
with wrk (bounded by ``--duration``), printing requests/s, p50, p99, errors and the
server's peak RSS. In the same run it measures a raw sqlite3 loop of one insert and one
commit per message with the server's pragmas (WAL, synchronous=FULL), and prints huihua's
durable add_chat rate as a ratio of it. ``--growth`` then fills the SQLite store with 10
million messages over 100,000 users by bulk insert and measures the reads again.

    python3 bench/run.py                       # SQLite only, 10 s per endpoint
    python3 bench/run.py --stores sqlite,postgresql,mysql --growth
    python3 bench/run.py --sqlite-workers 2     # huihua serve --workers 2 on SQLite
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text

# huihua itself is imported only where the bench reaches into a store (making and filling
# databases, a seek cursor): bench/ab.py imports this module to drive two builds over HTTP
# alone, and must not depend on whichever huihua this process would import.
from servers import (
    BENCH,
    Ceiling,
    Server,
    database,
    measure,
)

WRITERS = 64  # users (and sessions) the add_chat load spreads over
MANY_SESSIONS = 100_000
GROWTH_USERS, GROWTH_SESSIONS_EACH, GROWTH_MESSAGES_EACH = 100_000, 10, 10
MSG = "今天天气不错，帮我写一首关于秋天的短诗，四句就好。"
READ_50 = json.dumps({"user_id": "reader", "session_id": "s50"})  # the 50-message read
# The HTTP ceiling is measured under each wrk script the endpoints are driven by: add_chat's
# share is of the ceiling under add_chat.lua's requests, the reads' under post_body.lua's.
CEILING_SCRIPTS = ("add_chat.lua", "post_body.lua")


# -- the machine's ceiling ----------------------------------------------------------------


def raw_sqlite_commits(seconds: float) -> float:
    """Return commits/s of a bare sqlite3 loop: one insert, one commit, WAL + FULL."""
    with tempfile.TemporaryDirectory(dir=BENCH) as tmp:
        db = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute(
            "CREATE TABLE m (user_id TEXT, session_id TEXT, seq INTEGER, role TEXT, msg TEXT, "
            "meta TEXT, created_at INTEGER, PRIMARY KEY (user_id, session_id, seq))"
        )
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            n += 1
            db.execute("BEGIN")
            db.execute(
                "INSERT INTO m VALUES (?, ?, ?, ?, ?, ?, ?)",
                ("u", "s", n, "user", MSG, '{"model":"bench"}', n),
            )
            db.execute("COMMIT")
        elapsed = time.perf_counter() - start
        db.close()
    return n / elapsed


# -- databases and servers ----------------------------------------------------------------


def seed(url: str, base: str) -> dict[str, str]:
    """Create the bench users and sessions; return the read bodies to drive."""
    try:
        from huihua.wire.cursor import encode_cursor
    except ImportError:  # builds before the wire package
        from huihua.validation import encode_cursor

    bodies = seed_http(base)
    with httpx.Client(base_url=base, timeout=30) as http:
        _post(http, "/add_user", {"user_id": "many", "user_name": "many"})
    bulk_sessions(url, "many", MANY_SESSIONS)
    # page 1000 starts after row 99,900 of the list (newest first)
    last_of_999 = MANY_SESSIONS - (999 * 100 - 1)
    cursor = encode_cursor(1_700_000_000_000 + last_of_999, f"s{last_of_999:06d}")
    return {
        **bodies,
        "names page 1 of 100k": json.dumps({"user_id": "many", "limit": 100}),
        "names page 1000 of 100k": json.dumps({"user_id": "many", "limit": 100, "cursor": cursor}),
    }


def seed_http(base: str) -> dict[str, str]:
    """Create the add_chat users and the 50-message session over HTTP alone (nothing of
    huihua imported: any build's server); return the body of the 50-message read."""
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(WRITERS):
            _post(http, "/add_user", {"user_id": f"bench-{i}", "user_name": "bench"})
        _post(http, "/add_user", {"user_id": "reader", "user_name": "reader"})
        for n in range(50):
            role = "user" if n % 2 == 0 else "ai"
            _post(
                http,
                "/add_chat",
                {
                    "user_id": "reader",
                    "session_id": "s50",
                    "role": role,
                    "msg": MSG * 2,  # 50 messages make a reply of about 10 KB
                    "meta": {"model": "bench", "n": n},
                },
            )
    return {"query_session_info(50)": READ_50}


def _post(http: httpx.Client, path: str, body: dict[str, Any]) -> None:
    reply = http.post(path, json=body)
    if reply.status_code != 200:
        raise RuntimeError(f"seeding: {path} answered {reply.status_code}: {reply.text[:200]}")


def bulk_sessions(url: str, user_id: str, count: int) -> None:
    """Insert ``count`` one-message sessions for one user, straight into the store."""
    from huihua.store.engine import store_kind
    from huihua.store.tables import chat_sessions

    engine = create_engine(store_kind(url).url)
    with engine.begin() as conn:
        for start in range(1, count + 1, 10_000):
            rows = [
                {
                    "user_id": user_id,
                    "session_id": f"s{i:06d}",
                    "session_title": f"session {i}",
                    "chat_count": 1,
                    "created_at": 1_700_000_000_000 + i,
                    "updated_at": 1_700_000_000_000 + i,
                }
                for i in range(start, min(start + 10_000, count + 1))
            ]
            conn.execute(insert(chat_sessions), rows)
    # A store that grew by use has statistics (autovacuum, InnoDB's own sampling); one
    # filled in a second has not, and PostgreSQL would plan the page as a 100,000-row sort
    # (26 ms against 0.04 ms) until autovacuum came by in the middle of the measurement.
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            keyword = "ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE TABLE"
            conn.execute(text(f"{keyword} chat_sessions"))
    engine.dispose()


def growth(url: str) -> None:
    """Fill the SQLite store with 10 million messages over 100,000 users (bulk insert, with a
    progress bar): 10 sessions of 10 messages each per user."""
    from huihua.store.engine import store_kind

    path = store_kind(url).url.database
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")  # a bulk load, not the service's writes
    total = GROWTH_USERS * GROWTH_SESSIONS_EACH * GROWTH_MESSAGES_EACH
    done = 0
    started = time.perf_counter()
    batch_users = 1000
    for first in range(0, GROWTH_USERS, batch_users):
        ids = [f"g{u:06d}" for u in range(first, first + batch_users)]
        now = 1_600_000_000_000 + first
        sessions = range(GROWTH_SESSIONS_EACH)
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO users (user_id, user_name, phone, email, profile, created_at, "
            "updated_at) VALUES (?, 'grown', '', '', NULL, ?, ?)",
            [(u, now, now) for u in ids],
        )
        db.executemany(
            "INSERT INTO chat_sessions (user_id, session_id, session_title, chat_count, "
            "created_at, updated_at) VALUES (?, ?, 'grown', ?, ?, ?)",
            [(u, f"g{s}", GROWTH_MESSAGES_EACH, now, now + s) for u in ids for s in sessions],
        )
        db.executemany(
            "INSERT INTO chat_messages (user_id, session_id, seq, role, msg, meta, created_at) "
            "VALUES (?, ?, ?, ?, ?, NULL, ?)",
            [
                (u, f"g{s}", m + 1, "user" if m % 2 == 0 else "ai", MSG, now)
                for u in ids
                for s in sessions
                for m in range(GROWTH_MESSAGES_EACH)
            ],
        )
        db.execute("COMMIT")
        done += batch_users * GROWTH_SESSIONS_EACH * GROWTH_MESSAGES_EACH
        rate = done / (time.perf_counter() - started)
        bar = "#" * int(40 * done / total)
        print(
            f"\r  growth [{bar:<40}] {done:>10,}/{total:,} messages, {rate:,.0f}/s",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    os.sync()  # written back now, not in the kernel's own time while the reads are measured


# -- load ---------------------------------------------------------------------------------


def add_chat_env() -> dict[str, str]:
    """Return the environment of add_chat.lua: the writers, and request ids of a new run."""
    return {"BENCH_USERS": str(WRITERS), "BENCH_RUN": uuid.uuid4().hex[:8]}


def reads(server: Server, bodies: dict[str, str], args: Any) -> dict[str, dict[str, Any]]:
    """Measure every read endpoint."""
    results = {}
    for name, body in bodies.items():
        path = "/" + name.split("(")[0] if "(" in name else "/query_session_names"
        env = {"BENCH_PATH": path, "BENCH_BODY": body}
        results[name] = measure(server, "post_body.lua", env, args)
        print(f"  {name:<26} {_row(results[name])}", flush=True)
    return results


def _row(r: dict[str, Any]) -> str:
    return (
        f"{r['rps']:>9,.0f} rps  cpu {r.get('cpu_us', 0):5.0f} µs/req  "
        f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
        f"errors {r['errors']:>4}  RSS {r['rss_mib']:6.1f} MiB (worker {r['worker_rss_mib']:.1f})"
    )


def http_ceiling(args: Any, workdir: Path) -> dict[str, dict[str, Any]]:
    """Measure the bare app of ceiling.py with each wrk script the endpoints are driven by."""
    print("\nHTTP ceiling: bare ASGI app (bench/ceiling.py), same server, options and wrk")
    server = Ceiling(workdir)
    try:
        envs = {
            "add_chat.lua": add_chat_env(),
            "post_body.lua": {"BENCH_PATH": "/query_session_info", "BENCH_BODY": READ_50},
        }
        out = {}
        for script in CEILING_SCRIPTS:
            out[script] = measure(server, script, envs[script], args)
            print(f"  {script + ' requests':<26} {_row(out[script])}", flush=True)
    finally:
        server.stop()
    return out


def ceiling_shares(results: dict[str, Any]) -> None:
    """Print every huihua figure as a share of the ceiling under the same wrk script."""
    ceiling = results["http_ceiling"]
    print("\nshare of the HTTP ceiling (one worker, same wrk script):")
    for kind in ("sqlite", "postgresql", "mysql"):
        if kind not in results:
            continue
        store = results[kind]
        workers = f", {store['workers']} workers" if store["workers"] > 1 else ""
        figures = [("add_chat", "add_chat.lua", store["add_chat"])]
        figures += [(name, "post_body.lua", r) for name, r in store["reads"].items()]
        grown = store.get("reads_grown", {})
        figures += [(f"{name}, grown", "post_body.lua", r) for name, r in grown.items()]
        for name, script, r in figures:
            r["ceiling_share"] = r["rps"] / ceiling[script]["rps"]
            label = f"{kind}{workers} {name}"
            share = r["ceiling_share"]
            print(f"  {label:<45} {r['rps']:>7,.0f} rps = {share:.2f} of the HTTP ceiling")


def bench_store(kind: str, args: Any, workdir: Path) -> dict[str, Any]:
    """Measure one store: add_chat, then the reads, then (``--growth``) the reads again."""
    workers = args.sqlite_workers if kind == "sqlite" else args.server_workers
    print(f"\n{kind} ({workers} worker{'s' if workers > 1 else ''}, {args.connections} conn)")
    out: dict[str, Any] = {"workers": workers}
    with database(kind, workdir) as url:
        server = Server(url, workers, workdir)
        try:
            bodies = seed(url, server.base)
            out["add_chat"] = measure(server, "add_chat.lua", add_chat_env(), args)
            print(f"  {'add_chat':<26} {_row(out['add_chat'])}", flush=True)
            out["reads"] = reads(server, bodies, args)
        finally:
            server.stop()
        if args.growth and kind == "sqlite":
            growth(url)
            server = Server(url, workers, workdir)
            try:
                print("  after growth to 10,000,000 messages:")
                out["reads_grown"] = reads(server, bodies, args)
            finally:
                server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stores", default="sqlite", help="comma-separated: sqlite,postgresql,mysql"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-workers", type=int, default=2, help="workers on PG/MySQL")
    parser.add_argument("--sqlite-workers", type=int, default=1, help="workers on SQLite")
    parser.add_argument("--growth", action="store_true", help="also the 10M-message run")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench needs wrk: apt-get install wrk")
    print(
        f"huihua bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    raw = raw_sqlite_commits(args.duration)
    print(f"raw sqlite3 loop, 1 insert + 1 commit per message, WAL, FULL: {raw:,.0f} commits/s")
    results: dict[str, Any] = {"raw_sqlite_commits_per_s": raw}
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="run-") as tmp:
        results["http_ceiling"] = http_ceiling(args, Path(tmp))
        for kind in args.stores.split(","):
            results[kind] = bench_store(kind, args, Path(tmp))
    if "sqlite" in results:
        add = results["sqlite"]["add_chat"]["rps"]
        print(f"\nSQLite durable add_chat / raw loop: {add / raw:.2f}x")
        reads_now = results["sqlite"]["reads"]
        p1 = reads_now["names page 1 of 100k"]["rps"]
        p1000 = reads_now["names page 1000 of 100k"]["rps"]
        print(f"page 1000 / page 1 cost (rps ratio): {p1 / p1000:.2f}x")
        if "reads_grown" in results["sqlite"]:
            for name, r in results["sqlite"]["reads_grown"].items():
                print(f"grown/empty {name}: {reads_now[name]['rps'] / r['rps']:.2f}x the cost")
    for kind in ("postgresql", "mysql"):
        if kind in results and "sqlite" in results:
            for name in ("add_chat",):
                ratio = results["sqlite"][name]["rps"] / results[kind][name]["rps"]
                print(f"{kind} {name}: SQLite is {ratio:.2f}x faster")
            for name, r in results[kind]["reads"].items():
                ratio = results["sqlite"]["reads"][name]["rps"] / r["rps"]
                print(f"{kind} {name}: SQLite is {ratio:.2f}x faster")
    ceiling_shares(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
