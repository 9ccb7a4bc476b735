"""What each part of a request costs, in instructions: bench/inprocess.py with parts replaced.

    python3 bench/parts.py                      # every variant, this checkout's src/
    python3 bench/parts.py --variants read,canned_read

Each variant runs bench/inprocess.py's load (the same store, writers and reads) with one
part of the request swapped for a stand-in, under ``valgrind --tool=cachegrind`` for N1 and
N2 requests, as bench/instructions.py counts a build. The differences between variants are
what the parts cost:

- ``read``: inprocess.py's read as it is (``limit`` 50, of a session of 8 messages);
  ``canned_read``: the read's service answers an empty page without touching the store
  (what every POST costs: the pipeline, parsing, the access line, the reply);
  ``empty_read``: the service runs an empty unit of work on the store; ``db_read``: it runs
  the page's statements and drops their rows (the page built and encoded is ``read``
  minus this).
- ``add``: add_chat as it is; ``canned_add``: the service answers at once;
  ``noop_add``: the service runs a write that changes nothing, through idempotency and
  group commit; ``no_record_add``: add_chat without storing its idempotency record.

Needs Debian's ``valgrind``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
VARIANTS = {
    "read": "read",
    "canned_read": "read",
    "empty_read": "read",
    "db_read": "read",
    "add": "add",
    "canned_add": "add",
    "noop_add": "add",
    "no_record_add": "add",
}


def _swap(variant: str) -> None:
    """Replace the part of huihua that ``variant`` names with its stand-in."""
    from huihua import service
    from huihua.service.idempotency import Idempotency
    from huihua.store import queries as q
    from huihua.wire.replies import SessionInfoReply

    async def read(store: Any, request_id: str, user_id: str, session_id: str, ask: Any, **_: Any):
        if variant == "empty_read":
            await store.read(lambda db: None)
        elif variant == "db_read":
            await store.read(lambda db: q.session_messages(db, user_id, session_id, ask.limit + 1))
        return SessionInfoReply(request_id=request_id, user_id=user_id, session_id=session_id)

    async def add(store: Any, call: Any, inp: Any) -> bytes:
        if variant == "noop_add":
            noop = Idempotency(call, inp.user_id, lambda db, now: None, alone=lambda *a: b"{}")
            return bytes(await store.write(noop))
        return b'{"request_id":"-","ok":0}'

    if variant in ("canned_read", "empty_read", "db_read"):
        service.query_session_info = read
    elif variant in ("canned_add", "noop_add"):
        service.add_chat = add
    elif variant == "no_record_add":
        q.put_idempotency = lambda *args, **kwargs: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="of: " + ", ".join(VARIANTS))
    parser.add_argument("--src", default=str(BENCH.parent / "src"), help="the huihua to count")
    parser.add_argument("--n1", type=int, default=160, help="requests of the short run")
    parser.add_argument("--n2", type=int, default=800, help="requests of the long run")
    parser.add_argument("--run", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:  # under valgrind: one load of one variant
        variant, n = args.run
        import inprocess  # bench/, as this script's own folder is first on the path

        _swap(variant)
        asyncio.run(inprocess.main(VARIANTS[variant], int(n)))
        return
    if shutil.which("valgrind") is None:
        sys.exit("needs valgrind: apt-get install valgrind")
    from instructions import counted  # bench/, as this script's own folder is first on the path

    for variant in args.variants.split(","):
        short = counted(Path(args.src), [__file__, "--run", variant, str(args.n1)])
        long = counted(Path(args.src), [__file__, "--run", variant, str(args.n2)])
        print(f"{variant:<16} {(long - short) / (args.n2 - args.n1):>10,.0f} instructions/request")


if __name__ == "__main__":
    main()
