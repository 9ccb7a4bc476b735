"""What the store fault scripts (test_store_*.py) share: a real `huihua serve` process, an
add_chat load that records what it was answered, and the check of the store afterwards.

Every write of the load carries its own request_id and a message that names it, so the
store can be compared with what the clients were told: each acknowledged write (ok 0) must
be stored once, at the seq it was answered with; each write that was never acknowledged
(ok 8, or no reply at all) is retried with its request_id once the store is back, and must
then be stored exactly once too (API.md §1, ok 8; §4). One write in NEW_SESSION_EVERY
creates a session of its own (several statements in one transaction on every store); the
others append to their user's one session (on PostgreSQL a single statement).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

REQUEST_TIMEOUT_S = 10  # a client's patience; a reply slower than this is a hang
NEW_SESSION_EVERY = 4


def serve(database_url: str, cwd: Path, port: int | None = None, migrate: bool = False) -> Server:
    """Start `huihua serve` on ``database_url``; return once it answers /healthz ok 0."""
    server = Server(database_url, cwd, port or free_port())
    if migrate:
        subprocess.run(
            [sys.executable, "-m", "huihua", "migrate", "--database-url", database_url],
            cwd=cwd,
            env=server.env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    server.start()
    return server


@dataclass
class Server:
    """A `huihua serve` child process on a free port; its log goes to a file in ``cwd``."""

    database_url: str
    cwd: Path
    port: int
    process: subprocess.Popen | None = None
    started_in_s: float = 0.0  # from the spawn to the first /healthz ok 0
    start_cpu_s: float = 0.0  # the CPU the process used in that time (user + system)
    start_queued_s: float = 0.0  # and the time it waited, runnable, for a CPU others held

    @property
    def start_own_s(self) -> float:
        """The start-up time that was the server's own: running, or waiting for I/O or a
        lock, but not queued for a CPU (on a loaded two-core machine that can be most)."""
        return self.started_in_s - self.start_queued_s

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}

    def start(self, within_s: float = 60) -> None:
        """Spawn the server; return once /healthz answers ok 0 (fail past ``within_s``)."""
        began = time.monotonic()
        with open(self.cwd / "serve.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "huihua",
                    "serve",
                    "--port",
                    str(self.port),
                    "--database-url",
                    self.database_url,
                    "--log-level",
                    "warning",
                ],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: self.healthy(), within_s, "the server answers /healthz ok 0", self)
        self.started_in_s = time.monotonic() - began
        self.start_cpu_s = cpu_seconds(self.process.pid)
        self.start_queued_s = queued_seconds(self.process.pid)

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited with {self.process.returncode}")
        try:
            reply = httpx.get(f"{self.base}/healthz", timeout=2)
        except httpx.TransportError:
            return False
        return reply.status_code == 200 and reply.json()["ok"] == 0

    def log_tail(self) -> str:
        try:
            return (self.cwd / "serve.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a live process has used so far (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def queued_seconds(pid: int) -> float:
    """Return how long a live process's main thread has waited, runnable, for a CPU
    (/proc/PID/schedstat: time on a CPU, time waiting on a run queue, in ns)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def wait_until(
    condition: Callable[[], bool], within_s: float, what: str, server: Server | None = None
) -> float:
    """Poll ``condition`` until true; return the seconds it took; fail past ``within_s``."""
    began = time.monotonic()
    delay = 0.01
    while not condition():
        if time.monotonic() - began > within_s:
            tail = f"\nserver log:\n{server.log_tail()}" if server else ""
            raise AssertionError(f"not true after {within_s} s: {what}{tail}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    return time.monotonic() - began


@dataclass
class Attempt:
    """One add_chat as sent, and what came back: ok code (None: no reply) and timing."""

    body: dict[str, Any]
    began: float
    ended: float = 0.0
    ok: int | None = None
    status: int | None = None
    seq: int | None = None
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.began


@dataclass
class Ledger:
    """Every add_chat the load sent, by request_id, and what each was answered."""

    users: int
    attempts: list[Attempt] = field(default_factory=list)
    acked: dict[str, Attempt] = field(default_factory=dict)  # request_id -> its ok 0
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # never acknowledged
    replayed: int = 0  # retries answered with the reply recorded when they first committed

    def record(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        request_id = attempt.body["request_id"]
        if attempt.ok == 0:
            self.acked[request_id] = attempt
            self.pending.pop(request_id, None)
        else:
            self.pending[request_id] = attempt.body

    def user(self, n: int) -> str:
        return f"fault-{n}"


def add_users(base: str, ledger: Ledger) -> None:
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
        for n in range(ledger.users):
            reply = http.post("/add_user", json={"user_id": ledger.user(n)}).json()
            assert reply["ok"] == 0, reply


async def load(
    base: str,
    ledger: Ledger,
    stop: asyncio.Event,
    tag: str,
    writers: int,
    *,
    quit_on_transport_error: bool,
) -> None:
    """``writers`` clients appending to their user's one session until ``stop``.

    A transport error (the server died) ends a writer when ``quit_on_transport_error``;
    otherwise it is recorded as a reply that never came and the writer goes on.
    """

    async def writer(w: int) -> None:
        n = 0
        user = w % ledger.users
        async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
            while not stop.is_set():
                n += 1
                request_id = f"{tag}-{w}-{n}"
                body = {
                    "request_id": request_id,
                    "user_id": ledger.user(user),
                    # Most append to the user's one session; every NEW_SESSION_EVERY-th
                    # creates a session of its own (a transaction of several statements).
                    "session_id": f"s{user}" if n % NEW_SESSION_EVERY else f"n-{request_id}",
                    "role": "user",
                    "msg": f"m {request_id}",
                }
                attempt = Attempt(body, time.monotonic())
                try:
                    response = await http.post("/add_chat", json=body)
                    reply = response.json()
                    attempt.ok, attempt.status = reply["ok"], response.status_code
                    attempt.seq = reply.get("seq")
                except (httpx.TransportError, ValueError) as error:
                    attempt.error = type(error).__name__
                attempt.ended = time.monotonic()
                ledger.record(attempt)
                if attempt.error and quit_on_transport_error:
                    return

    await asyncio.gather(*(writer(w) for w in range(writers)))


def retry_pending(base: str, ledger: Ledger) -> int:
    """Send every write never acknowledged again, same request_id; each must be ok 0.

    A write that had committed before its reply was lost is answered its recorded reply,
    stamped before this pass began: those are counted in ``ledger.replayed``.
    """
    retried = 0
    now = datetime.now(UTC)  # to the millisecond, as the server stamps created_at
    pass_began = now.replace(microsecond=now.microsecond // 1000 * 1000)
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
        for request_id, body in list(ledger.pending.items()):
            began = time.monotonic()
            response = http.post("/add_chat", json=body)
            reply = response.json()
            assert reply["ok"] == 0, (body, reply)
            attempt = Attempt(body, began, time.monotonic(), 0, response.status_code)
            attempt.seq = reply["seq"]
            ledger.record(attempt)
            assert request_id not in ledger.pending
            ledger.replayed += datetime.fromisoformat(reply["created_at"]) < pass_began
            retried += 1
    return retried


def check_store(base: str, ledger: Ledger) -> int:
    """Every write the load sent is now stored exactly once, at the seq it was answered
    with, and each session's seqs are 1..n; return how many messages were checked."""
    assert not ledger.pending, f"{len(ledger.pending)} writes were never acknowledged"
    sessions = {(a.body["user_id"], a.body["session_id"]) for a in ledger.acked.values()}
    stored: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
        for n in range(ledger.users):
            names = http.post(
                "/query_session_names", json={"user_id": ledger.user(n), "limit": 1000}
            ).json()
            assert names["ok"] == 0 and names["next_cursor"] == "", names
            listed = {(ledger.user(n), s["session_id"]) for s in names["sessions"]}
            mine = {s for s in sessions if s[0] == ledger.user(n)}
            assert listed == mine, (listed - mine, mine - listed)  # none made twice, none lost
        for user, session in sorted(sessions):
            chats: list[dict[str, Any]] = []
            before: int | None = None
            while True:  # newest pages first
                query: dict[str, Any] = {"user_id": user, "session_id": session}
                if before is not None:
                    query["before_seq"] = before
                info = http.post("/query_session_info", json=query).json()
                assert info["ok"] == 0, info
                chats = info["chats"] + chats
                if not info["has_more"]:
                    break
                before = info["chats"][0]["seq"]
            seqs = [c["seq"] for c in chats]
            assert seqs == list(range(1, len(seqs) + 1)), f"{session}: a gap or repeat in seqs"
            stored[(user, session)] = chats
    where: dict[str, list[tuple[str, str, int]]] = {}
    for (user, session), chats in stored.items():
        for chat in chats:
            where.setdefault(chat["msg"], []).append((user, session, chat["seq"]))
    for request_id, attempt in ledger.acked.items():
        body = attempt.body
        places = where.get(body["msg"], [])
        assert places == [(body["user_id"], body["session_id"], attempt.seq)], (request_id, places)
    sent = {a.body["msg"] for a in ledger.acked.values()}
    strays = [msg for msg in where if msg not in sent]
    assert not strays, f"stored but never sent or never acknowledged: {strays[:5]}"
    return sum(len(chats) for chats in stored.values())
