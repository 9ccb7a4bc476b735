"""Fault: 1,000 idle connections and a body arriving at one byte a second (issue 13).

A real `huihua serve` (SQLite) is timed on a round of add_chat and query_session_info from
one client: its p99 is "normal". Then 1,000 connections are opened that send nothing, and
one more sends an add_chat body at one byte a second, and the same round is timed again:
its p99 stays within 5x of normal plus 50 ms, and `/healthz` answers ok 0 throughout. The
bound is loose on purpose: a starved server makes clients wait for seconds (a request
queued behind the idle connections waits for the head timeout), while a shared two-core
machine under other work moved the p99 from 2x to 3x of normal on its own (the bound was
2x + 5 ms and failed so in CI-like runs); the figure itself belongs in bench/. Afterwards
the idle connections are closed by the server (``head_timeout``) and the trickling one gets
ok 1 (``body_timeout``). Bounded: about 30 s.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from ..test_lifecycle import BOUND_S, serve, stop

pytestmark = pytest.mark.slow

IDLE = 1_000
ROUND = 300
HEAD_TIMEOUT_S = 12
BODY_TIMEOUT_S = 12


def _p99(http: httpx.Client, user: str, session_id: str) -> float:
    times = []
    for n in range(ROUND):
        started = time.perf_counter()
        if n % 2:
            reply = http.post(
                "/query_session_info", json={"user_id": user, "session_id": session_id, "limit": 20}
            )
        else:
            reply = http.post(
                "/add_chat",
                json={"user_id": user, "session_id": session_id, "role": "user", "msg": f"m{n}"},
            )
        times.append(time.perf_counter() - started)
        assert reply.json()["ok"] == 0, reply.text
    times.sort()
    return times[int(len(times) * 0.99) - 1]


def _trickle(port: int, stop_at: float, outcome: dict[str, bytes]) -> None:
    body = b'{"user_id":"slow","role":"user","msg":"' + b"x" * 200 + b'"}'
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND_S) as sock:
        sock.sendall(
            b"POST /add_chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        sock.settimeout(1.0)  # one byte a second, reading whatever the server answers
        reply = b""
        for i in range(len(body)):
            if time.monotonic() > stop_at:
                break
            try:
                sock.sendall(body[i : i + 1])
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            reply += chunk
        outcome["reply"] = reply


def test_idle_connections_and_a_trickling_body_do_not_slow_the_others(tmp_path: Path):
    served = serve(tmp_path, head_timeout=str(HEAD_TIMEOUT_S), body_timeout=str(BODY_TIMEOUT_S))
    idle: list[socket.socket] = []
    try:
        with httpx.Client(base_url=served.base, timeout=BOUND_S) as http:
            assert http.post("/add_user", json={"user_id": "u1"}).json()["ok"] == 0
            first = http.post("/add_chat", json={"user_id": "u1", "role": "user", "msg": "m"})
            session_id = first.json()["session_id"]
            _p99(http, "u1", session_id)  # warm-up
            normal = _p99(http, "u1", session_id)

            opened = time.monotonic()
            for _ in range(IDLE):
                idle.append(socket.create_connection(("127.0.0.1", served.port), timeout=BOUND_S))
            outcome: dict[str, bytes] = {}
            trickler = threading.Thread(
                target=_trickle, args=(served.port, opened + BODY_TIMEOUT_S + BOUND_S, outcome)
            )
            trickler.start()
            assert http.get("/healthz").json()["ok"] == 0
            loaded = _p99(http, "u1", session_id)
            print(
                f"p99 normal {normal * 1e3:.1f} ms; "
                f"with {IDLE} idle + 1 trickling {loaded * 1e3:.1f} ms"
            )
            assert http.get("/healthz").json()["ok"] == 0
            assert time.monotonic() - opened < HEAD_TIMEOUT_S, "measured after the idle ones closed"
            assert loaded <= 5 * normal + 0.05, (
                f"p99 {loaded * 1e3:.1f} ms, normal {normal * 1e3:.1f} ms"
            )

            # the server ends both kinds of slow client on its own
            for sock in idle:
                sock.settimeout(max(0.1, opened + HEAD_TIMEOUT_S + BOUND_S - time.monotonic()))
                assert sock.recv(1) == b"", "an idle connection was never closed"
            trickler.join(timeout=BODY_TIMEOUT_S + BOUND_S)
            assert not trickler.is_alive()
            assert b'"ok":1' in outcome.get("reply", b""), outcome
            assert http.get("/healthz").json()["ok"] == 0
    finally:
        for sock in idle:
            sock.close()
        log = stop(served)
        print(log[-4000:])  # shown when the test fails
    assert "Traceback" not in log
