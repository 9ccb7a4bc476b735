"""Drive huihua's ASGI app in this process, with no sockets: N requests of one kind.

    PYTHONPATH=<build>/src python3 bench/inprocess.py add|read N [asyncio|uvloop]

The event loop is asyncio's own by default, as every count in bench/README.md was made;
``uvloop`` runs the load on the loop ``huihua serve`` runs (uvicorn's), whose scheduling
is in C: add_chat counts 15,000 to 17,000 instructions fewer there.

The store is a fresh SQLite file with ``synchronous=OFF`` (an fsync's time is the disk's,
not huihua's), access lines on at INFO as ``huihua serve`` logs them (to stderr). Eight
writers append concurrently, so group commit runs as it does under load. Meant to be run
under ``valgrind --tool=cachegrind`` by bench/instructions.py, whose count of instructions
is the same run after run, unlike a timing on a shared machine. Works on builds before and
after the layers moved (huihua.app or huihua.http.app).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tempfile
from typing import Any

from huihua import logs
from huihua.config import Settings

try:
    from huihua.http.app import create_app
except ImportError:  # a build from before the http package
    from huihua.app import create_app  # type: ignore[no-redef]

WRITERS = 8
MSG = "今天天气不错，帮我写一首关于秋天的短诗，四句就好。"


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(app: Any, path: str, body: bytes) -> None:
    """Send one request through the app as uvicorn would; the reply is dropped."""
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # the client never leaves
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        pass

    await app(_scope(path), receive, send)


async def main(mode: str, n: int) -> None:
    logs.configure("info")
    tmp = tempfile.mkdtemp()
    settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", sqlite_synchronous="OFF")
    app = create_app(settings)
    async with app.starlette.router.lifespan_context(app.starlette):
        gc.collect()
        gc.freeze()  # as huihua serve does once started
        for w in range(WRITERS):
            await call(app, "/add_user", json.dumps({"user_id": f"u{w}"}).encode())

        async def writer(w: int, count: int, tag: str) -> None:
            for i in range(count):
                body = {
                    "request_id": f"{tag}-{w}-{i}",
                    "user_id": f"u{w}",
                    "session_id": f"s{w}",
                    "role": "user",
                    "msg": MSG,
                    "meta": {"model": "bench", "tokens": 42},
                }
                await call(app, "/add_chat", json.dumps(body).encode())

        await asyncio.gather(*(writer(w, 60 // WRITERS + 1, "seed") for w in range(WRITERS)))
        if mode == "add":
            await asyncio.gather(*(writer(w, n // WRITERS, "m") for w in range(WRITERS)))
            return
        read = json.dumps({"user_id": "u0", "session_id": "s0", "limit": 50}).encode()

        async def reader(count: int) -> None:
            for _ in range(count):
                await call(app, "/query_session_info", read)

        await asyncio.gather(*(reader(n // WRITERS) for _ in range(WRITERS)))


if __name__ == "__main__":
    if sys.argv[3:] == ["uvloop"]:
        import uvloop

        uvloop.install()
    elif sys.argv[3:] not in ([], ["asyncio"]):
        sys.exit(f"the loop is asyncio or uvloop, not {' '.join(sys.argv[3:])}")
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
