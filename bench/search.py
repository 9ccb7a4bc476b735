"""/search_chats for a user with 10,000 messages: p50 and p99 of 1-, 2- and 5-character
queries, hits and misses, one client sending one query after another.

    python3 bench/search.py                                   # SQLite
    python3 bench/search.py --stores sqlite,postgresql,mysql --queries 200
    python3 bench/search.py --growth                          # and SQLite with 10 M more

The user's messages are drawn from a vocabulary of some 3,200 words and phrases (a few
hundred common ones written out, drawn most; 3,000 more made of two of GB 2312's 3,755
commonest characters), a user's turn a short question, the reply longer, so common queries
hit many messages and many users. A hit is a word of the vocabulary (its page fills: 20
results); a miss is made of characters that are in no message, a common miss of characters
that are in many (one a pair no message holds, one whose every pair some message holds,
never all in one: the search digest cannot tell it from a hit). The store also holds
``--neighbours`` other users (1,000 of 100 messages), and a server store is given the
statistics and visibility map that use would give it (``VACUUM ANALYZE``, ``ANALYZE
TABLE``). ``--growth`` then bulk-loads 10,000,000 messages over 100,000 other users, drawn
from the same vocabulary, into the SQLite store, and measures the same queries again: the
figures are to stay within 1.5x.

``--base REF`` compares two builds on each store instead: one store is seeded, then the
build of REF (``git archive``d, as bench/ab.py makes it) and this work tree serve it in
turn, ``--rounds`` times each, alternated, and it prints the median p50 and p99 of each
query per build and head/base. Both builds must read the store's schema as it is.

    python3 bench/search.py --stores sqlite,postgresql,mysql --base main --rounds 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ab import build
from search_data import COMMON_MISSES, HITS, MISSES, growth, neighbours, seed_user
from servers import BENCH, Server, database


def analyze(url: str, kind: str) -> None:
    """Give a server store what one grown by use has: statistics, and on PostgreSQL the
    visibility map (what autovacuum does after so many inserts), without which an
    index-only scan reads every row's page too."""
    if kind == "sqlite":
        return
    from sqlalchemy import create_engine, text

    from huihua.store.engine import store_kind

    engine = create_engine(store_kind(url).url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if kind == "postgresql":
            conn.execute(text("VACUUM ANALYZE"))
        else:
            for table in ("users", "chat_sessions", "chat_messages", "search_digests"):
                conn.execute(text(f"ANALYZE TABLE {table}"))
    engine.dispose()


TABLES = (("hit", HITS), ("miss", MISSES), ("common miss", COMMON_MISSES))


def make_digest(base: str, user_id: str) -> None:
    """Search as a user who searches would have: the first searches that read all their
    messages make their search digest (2,000 messages a search). Print what they cost."""
    first: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for _, table in TABLES:
            for query in table.values():
                for _ in range(10):
                    start = time.perf_counter()
                    http.post("/search_chats", json={"user_id": user_id, "query": query})
                    first.append((time.perf_counter() - start) * 1000)
    slow = [t for t in first if t > 50]
    print(
        f"  first searches: {len(slow)} over 50 ms (the digest made), the slowest "
        f"{max(first):.0f} ms, {sum(slow):.0f} ms in all",
        file=sys.stderr,
    )


def measure(base: str, user_id: str, queries: int) -> dict[str, dict[str, float]]:
    """Return p50 and p99 (ms) and results per page of each query, one after another."""
    figures: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=base, timeout=60) as http:
        for kind, table in TABLES:
            for length, query in table.items():
                body = {"user_id": user_id, "query": query}
                times, results = [], 0
                for i in range(queries + 10):
                    start = time.perf_counter()
                    reply = http.post("/search_chats", json=body).json()
                    elapsed = time.perf_counter() - start
                    assert reply["ok"] == 0, reply
                    if i >= 10:  # the first ten warm the caches (and the statements)
                        times.append(elapsed * 1000)
                        results = len(reply["results"])
                times.sort()
                figures[f"{length}-char {kind}"] = {
                    "p50": statistics.median(times),
                    "p99": times[int(len(times) * 0.99) - 1],
                    "results": results,
                }
    return figures


def show(label: str, figures: dict[str, dict[str, float]]) -> None:
    for name, f in figures.items():
        print(
            f"  {label:<22} {name:<12} p50 {f['p50']:6.2f} ms  p99 {f['p99']:6.2f} ms  "
            f"({f['results']:.0f} results)"
        )
    for kind, table in TABLES[1:]:
        for length in table:
            hit, miss = figures[f"{length}-char hit"], figures[f"{length}-char {kind}"]
            ratio = miss["p50"] / hit["p50"]
            print(f"  {label:<22} {length}-char {kind} / hit p50: {ratio:.2f}x")


def compare(url: str, kind: str, workers: int, builds: list[Any], args: Any, tmp: Path) -> None:
    """Serve the seeded store by each build in turn, ``args.rounds`` times, alternated;
    print each query's median p50 and p99 per build and head/base."""
    runs: dict[str, list[dict[str, dict[str, float]]]] = {b.name: [] for b in builds}
    for i in range(args.rounds):
        for b in builds if i % 2 == 0 else builds[::-1]:
            server = Server(url, workers, tmp, src=b.src)
            try:
                runs[b.name].append(measure(server.base, "searcher", args.queries))
            finally:
                server.stop()
    for name in runs["base"][0]:
        line = []
        for figure in ("p50", "p99"):
            base, head = (
                statistics.median(r[name][figure] for r in runs[b]) for b in ("base", "head")
            )
            ratio = head / base
            line.append(f"{figure} base {base:6.2f} head {head:6.2f} ms, head/base {ratio:.2f}")
        print(f"  {kind:<10} {name:<12} " + "; ".join(line))
    for b in ("base", "head"):
        ratios = []
        for missed, table in TABLES[1:]:
            for length in table:
                hit, miss = (
                    statistics.median(r[f"{length}-char {k}"]["p50"] for r in runs[b])
                    for k in ("hit", missed)
                )
                ratios.append(f"{length}-char {missed} {miss / hit:.2f}")
        print(f"  {kind:<10} {b}: miss / hit p50: {', '.join(ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument(
        "--neighbours", type=int, default=1000, help="other users of 100 messages in the store"
    )
    parser.add_argument("--growth", action="store_true", help="also SQLite with 10 M more")
    parser.add_argument("--growth-users", type=int, default=100_000)
    parser.add_argument("--base", help="git ref of a build to compare this work tree with")
    parser.add_argument("--rounds", type=int, default=3, help="with --base: runs per build")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="search-") as tmp:
        builds = []
        if args.base:
            builds = [build("base", args.base, Path(tmp)), build("head", "worktree", Path(tmp))]
            print(f"base: {builds[0].label}\nhead: {builds[1].label}")
        for kind in args.stores.split(","):
            workers = 1 if kind == "sqlite" else args.server_workers
            with database(kind, Path(tmp)) as url:
                server = Server(url, workers, Path(tmp))
                try:
                    seed_user(server.base, "searcher", args.messages, random.Random(11))
                    neighbours(url, random.Random(13), args.neighbours, 100)
                    make_digest(server.base, "searcher")
                    # After the digest: PostgreSQL planned (and psycopg's prepared
                    # statements kept) reads of search_digests as scans of the empty table
                    # it was, 5 ms where a lookup takes 0.6, until autovacuum's ANALYZE.
                    analyze(url, kind)
                    if not builds:
                        results[kind] = measure(server.base, "searcher", args.queries)
                        show(f"{kind}", results[kind])
                finally:
                    server.stop()
                if builds:
                    compare(url, kind, workers, builds, args, Path(tmp))
                    continue
                if kind == "sqlite" and args.growth:
                    growth(url, random.Random(12), args.growth_users, 100)
                    server = Server(url, 1, Path(tmp))
                    try:
                        grown = measure(server.base, "searcher", args.queries)
                        show("sqlite, grown", grown)
                        for name, f in grown.items():
                            ratio = f["p50"] / results["sqlite"][name]["p50"]
                            print(f"  grown / alone {name:<12} p50 {ratio:.2f}x")
                    finally:
                        server.stop()
    if "sqlite" in results:
        for kind in results:
            if kind == "sqlite":
                continue
            worst = max(
                results[kind][n]["p50"] / results["sqlite"][n]["p50"] for n in results[kind]
            )
            print(f"{kind} / sqlite, worst p50 ratio: {worst:.2f}x")


if __name__ == "__main__":
    main()
