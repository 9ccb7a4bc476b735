"""The HTTP ceiling: a bare ASGI app on the server huihua runs on, with huihua's options.

It reads the whole POST body and answers a small fixed JSON reply, on uvicorn with uvloop
and httptools, one worker, access log, server header and uvicorn's logging config off, as
``huihua serve`` runs (src/huihua/cli.py). Whatever huihua does beyond this is its own
cost; this is what the server, the loopback and wrk cost on this machine. No import of
huihua: it measures the same on every build.

    python3 bench/ceiling.py --port 8123
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

REPLY = b'{"code":0,"msg":"ok","data":{"seq":1}}'
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-length", str(len(REPLY)).encode()),
    ],
}
BODY = {"type": "http.response.body", "body": REPLY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer every request (any path: ``/healthz`` too) with REPLY, after its whole body."""
    if scope["type"] == "http":
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            more = message.get("more_body", False)
        await send(START)
        await send(BODY)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",  # huihua's default
        access_log=False,
        loop="uvloop",
        http="httptools",
        log_config=None,
        server_header=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
