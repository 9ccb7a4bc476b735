"""What each structure of search is worth: the same queries with each one dropped in turn.

    python3 bench/search_structures.py                 # seeds a SQLite store as search.py does
    python3 bench/search_structures.py --store F.db    # or measures one seeded before

store/search/ keeps, per user, a digest of the characters and pairs their messages hold and
their signatures bit-sliced, and walks the index ``(user_id, created_at, session_id, seq)``
(its docstring draws them). This bench seeds one user of 10,000 messages as bench/search.py
does (and makes their digest), then times, in this process on the store's own connection,
what a search reads for its candidates (``search.candidates``, the page and one more), for
bench/search.py's queries, as built and with each structure taken away:

- ``no digest``: the walk alone (what a user without a digest gets);
- ``no slices``: the digest's units and pairs, then the walk for what they let through;
- ``no pairs``: the units alone say "may", then the slices;
- ``no walk index``: the index dropped (on a copy of the store), so the walk sorts.

It prints the median of ``--runs`` timings of each (ms), beside the row count the page needs.
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from search import make_digest
from search_data import COMMON_MISSES, HITS, MISSES, seed_user
from servers import BENCH, Server

USER = "searcher"
QUERIES = [
    *((f"{n}-char hit", q) for n, q in HITS.items()),
    *((f"{n}-char miss", q) for n, q in MISSES.items()),
    *((f"{n}-char common miss", q) for n, q in COMMON_MISSES.items()),
]


def seeded(workdir: Path, messages: int) -> Path:
    """A SQLite store with the searcher's messages and digest, made over HTTP."""
    path = workdir / "search.db"
    server = Server(f"sqlite:///{path}", 1, workdir)
    try:
        seed_user(server.base, USER, messages, random.Random(11))
        make_digest(server.base, USER)
    finally:
        server.stop()
    return path


def _db(path: Path) -> Any:
    from sqlalchemy.dialects import sqlite

    from huihua.store.sql import Db

    return Db(sqlite3.connect(path, isolation_level=None), sqlite.dialect())


def _page(db: Any, query: str) -> int:
    from huihua.store import search

    found = search.candidates(db, USER, query, 20, None, None)
    return len(list(itertools.islice(found.rows, 21)))


def _timed(fn: Callable[[], int], runs: int) -> tuple[float, int]:
    rows = fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, rows


def variants() -> Iterator[tuple[str, Callable[[], Any]]]:
    """Each variant as a context: (name, undo), the package patched in this process."""
    from huihua.store import search
    from huihua.store.search import digest

    yield "as built", lambda: None

    saved_parts = search.digest_parts
    search.digest_parts = lambda db, user_id, parts, head=True: (  # type: ignore[assignment]
        None if head else saved_parts(db, user_id, parts, head=head)
    )
    yield "no digest", lambda: setattr(search, "digest_parts", saved_parts)

    saved_survivors = search._survivors
    search._survivors = lambda *args: None  # type: ignore[assignment]
    yield "no slices", lambda: setattr(search, "_survivors", saved_survivors)

    saved_may = digest.may_contain

    def units_only(parts: dict[int, bytes], wanted: dict[int, list[int]]) -> bool:
        return saved_may(parts, {p: b for p, b in wanted.items() if p < digest.UNIT_PARTS})

    digest.may_contain = units_only  # type: ignore[assignment]
    yield "no pairs", lambda: setattr(digest, "may_contain", saved_may)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="a store seeded before (else one is made)")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="structures-") as tmp:
        path = args.store or seeded(Path(tmp), args.messages)
        figures: dict[str, dict[str, tuple[float, int]]] = {}
        db = _db(path)
        for name, undo in variants():
            figures[name] = {
                label: _timed(lambda q=q: _page(db, q), args.runs) for label, q in QUERIES
            }
            undo()
        bare = Path(tmp) / "no-index.db"
        shutil.copy(path, bare)
        sqlite3.connect(bare).execute("DROP INDEX ix_chat_messages_newest").connection.commit()
        db = _db(bare)
        figures["no walk index"] = {
            label: _timed(lambda q=q: _page(db, q), args.runs) for label, q in QUERIES
        }
    names = list(figures)
    print(f"{'ms (median), rows':<22}" + "".join(f"{n:>16}" for n in names))
    for label, _ in QUERIES:
        cells = "".join(f"{figures[n][label][0]:>12.3f} ({figures[n][label][1]:>2})" for n in names)
        print(f"{label:<22}{cells}")


if __name__ == "__main__":
    main()
