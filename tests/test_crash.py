"""Nothing acknowledged is lost: SIGKILL a real server under write load, then count.

Group commit answers a write only after the COMMIT that holds it; a server killed in the
middle of a group must come back with every message it acknowledged, and seqs without gaps.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .conftest import free_port
from .helpers import start_serve

pytestmark = pytest.mark.slow

WRITERS = 32
USERS = 8
ROUNDS = 3
KILL_AFTER = 100  # acknowledged writes in a round before the SIGKILL
ACK_DEADLINE_S = 120  # for those: generous, the test fails clearly past it


def _start(tmp_path: Path, port: int) -> subprocess.Popen:
    return start_serve(tmp_path, port)


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


async def _kill_once_acknowledged(base: str, acked: list[dict], round_: int, pid: int) -> None:
    """Load the server; SIGKILL it once KILL_AFTER writes of this round are acknowledged."""
    before = len(acked)
    stop = asyncio.Event()
    load = asyncio.create_task(_load(base, acked, stop, round_))
    deadline = time.monotonic() + ACK_DEADLINE_S
    while len(acked) - before < KILL_AFTER:
        if load.done() or time.monotonic() > deadline:
            stop.set()
            await asyncio.wait_for(load, 30)  # raises what a writer raised, if one did
            raise AssertionError(
                f"round {round_}: {len(acked) - before} writes acknowledged, not {KILL_AFTER},"
                f" within {ACK_DEADLINE_S} s, before the server was to be killed"
            )
        await asyncio.sleep(0.005)
    os.kill(pid, signal.SIGKILL)  # mid-load: groups are being committed
    await asyncio.wait_for(load, 30)  # the writers stop as the server dies under them


def test_sigkill_under_load_loses_no_acknowledged_message(tmp_path: Path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    acked: list[dict] = []
    process = _start(tmp_path, port)
    try:
        with httpx.Client(base_url=base) as http:
            for u in range(USERS):
                assert http.post("/add_user", json={"user_id": f"crash-{u}"}).json()["ok"] == 0
        for round_ in range(ROUNDS):
            asyncio.run(_kill_once_acknowledged(base, acked, round_, process.pid))
            process.wait(timeout=10)
            process = _start(tmp_path, port)
        assert len(acked) >= ROUNDS * KILL_AFTER  # the load really ran
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
