"""Nothing acknowledged is lost: SIGKILL a real server under write load, then count.

Group commit answers a write only after the COMMIT that holds it; a server killed in the
middle of a group must come back with every message it acknowledged, and seqs without gaps.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import free_port

WRITERS = 32
USERS = 8


def _start(tmp_path: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "huihua", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("server did not start")


async def _load(base: str, acked: list[dict], stop: asyncio.Event, round_: int) -> None:
    async def writer(w: int) -> None:
        n = 0
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            while not stop.is_set():
                n += 1
                user = f"crash-{w % USERS}"
                body = {
                    "request_id": f"r{round_}-{w}-{n}",
                    "user_id": user,
                    "session_id": f"s{w % USERS}",
                    "role": "user",
                    "msg": f"message {round_}-{w}-{n}",
                }
                try:
                    reply = (await http.post("/add_chat", json=body)).json()
                except (httpx.TransportError, ValueError):
                    return  # the server died under us: this one was never acknowledged
                if reply["ok"] == 0:
                    acked.append({**body, "seq": reply["seq"]})

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))


def test_sigkill_under_load_loses_no_acknowledged_message(tmp_path: Path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    acked: list[dict] = []
    process = _start(tmp_path, port)
    try:
        with httpx.Client(base_url=base) as http:
            for u in range(USERS):
                assert http.post("/add_user", json={"user_id": f"crash-{u}"}).json()["ok"] == 0
        for round_ in range(3):
            stop = asyncio.Event()

            async def run(
                round_: int = round_, stop: asyncio.Event = stop, pid: int = process.pid
            ) -> None:
                load = asyncio.create_task(_load(base, acked, stop, round_))
                await asyncio.sleep(1.0)
                os.kill(pid, signal.SIGKILL)  # mid-load: groups are being committed
                await asyncio.wait_for(load, 30)

            asyncio.run(run())
            process.wait(timeout=10)
            process = _start(tmp_path, port)
        assert len(acked) > 100  # the load really ran
        stored: dict[str, dict[int, str]] = {}
        with httpx.Client(base_url=base) as http:
            for u in range(USERS):
                info = http.post(
                    "/query_session_info", json={"user_id": f"crash-{u}", "session_id": f"s{u}"}
                ).json()
                assert info["ok"] == 0, info
                seqs = [c["seq"] for c in info["chats"]]
                assert seqs == list(range(1, len(seqs) + 1))  # no gap, no repeat
                stored[f"crash-{u}"] = {c["seq"]: c["msg"] for c in info["chats"]}
        for message in acked:
            assert stored[message["user_id"]].get(message["seq"]) == message["msg"], message
    finally:
        process.kill()
        process.wait(timeout=30)
