"""Slow, idle and half-sent clients, and SIGTERM, against a real `huihua serve` process
(issue 13): every connection is bounded in time, and a stop is bounded too."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import free_port
from .test_cli import HUIHUA, _env, _wait_healthy

pytestmark = pytest.mark.slow

BOUND_S = 10  # slack for a loaded 2-core machine on top of each timeout


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=BOUND_S + 10)
        return sock


def serve(tmp_path: Path, **settings: str) -> Served:
    """Start `huihua serve` with ``settings`` (HUIHUA_<NAME>) and wait for /healthz.

    Its log goes to a file: a pipe nobody reads fills after some 500 access lines, and the
    server then blocks on writing its log."""
    port = free_port()
    env = _env(**{f"HUIHUA_{k.upper()}": v for k, v in settings.items()})
    log = tmp_path / f"server-{port}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*HUIHUA, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=sink,
            text=True,
        )
    served = Served(process, port, log)
    _wait_healthy(served.base, process)
    return served


def stop(served: Served) -> str:
    """Stop the server (if still running) and return its log."""
    if served.process.poll() is None:
        served.process.terminate()
    served.process.wait(timeout=60)
    return served.log.read_text()


@pytest.fixture
def fast_timeouts(tmp_path: Path) -> Iterator[Served]:
    served = serve(tmp_path, head_timeout="1", body_timeout="2", keep_alive_timeout="1")
    yield served
    stop(served)


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Return how long the server took to close ``sock`` (reading and dropping any reply)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    while sock.recv(65536):
        pass
    return time.monotonic() - started


def test_a_connection_that_sends_nothing_is_closed(fast_timeouts: Served):
    with fast_timeouts.connect() as sock:
        assert _closed_within(sock, BOUND_S) < 1 + BOUND_S


def test_a_half_sent_head_is_closed(fast_timeouts: Served):
    with fast_timeouts.connect() as sock:
        sock.sendall(b"POST /add_user HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        assert _closed_within(sock, BOUND_S) < 1 + BOUND_S


def test_an_idle_keep_alive_connection_is_closed(fast_timeouts: Served):
    with fast_timeouts.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(BOUND_S)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert _closed_within(sock, BOUND_S) < 1 + BOUND_S


def test_a_trickling_body_is_answered_ok_1_and_closed(fast_timeouts: Served):
    body = json.dumps({"user_id": "slow", "user_name": "s" * 40}).encode()
    with fast_timeouts.connect() as sock:
        sock.sendall(
            b"POST /add_user HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        sock.settimeout(BOUND_S)
        started = time.monotonic()
        reply = b""
        for i in range(len(body)):  # 4 bytes a second until the server answers
            try:
                sock.sendall(body[i : i + 1])
            except OSError:
                break
            sock.settimeout(0.25)
            try:
                reply += sock.recv(65536)
            except TimeoutError:
                continue
            if reply.endswith(b"}"):
                break
        assert time.monotonic() - started < 2 + BOUND_S
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), reply
    assert b"connection: close" in head.lower()
    answer = json.loads(payload)
    assert answer["ok"] == 1 and answer["failed"] == "body: not received in full within 2 s"
    # the user was not written, and the server still serves
    with httpx.Client(base_url=fast_timeouts.base) as http:
        assert http.post("/query_user_info", json={"user_id": "slow"}).json()["ok"] == 2


def test_sigterm_answers_the_request_in_flight_refuses_new_ones_and_exits(tmp_path: Path):
    served = serve(tmp_path, shutdown_timeout="3", body_timeout="60", head_timeout="60")
    body = json.dumps({"user_id": "u1", "user_name": "in flight"}).encode()
    in_flight = served.connect()
    trickling = served.connect()
    head = (
        b"POST /add_user HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    in_flight.sendall(head + body[:5])
    trickling.sendall(head + body[:1])
    # both requests have started (the server has their heads) before the signal
    with httpx.Client(base_url=served.base) as http:
        assert http.get("/healthz").json()["ok"] == 0
    served.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    deadline = started + BOUND_S
    while True:  # new connections are refused once the server stops listening
        try:
            socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
        except OSError:
            break
        assert time.monotonic() < deadline, "still accepting after SIGTERM"
        time.sleep(0.05)
    in_flight.sendall(body[5:])
    in_flight.settimeout(BOUND_S)
    reply = b""
    while not reply.endswith(b"}"):
        chunk = in_flight.recv(65536)
        assert chunk, reply
        reply += chunk
    assert json.loads(reply.partition(b"\r\n\r\n")[2])["ok"] == 0
    # the trickling client never finishes: the server gives up on it and exits
    served.process.wait(timeout=3 + BOUND_S)
    assert time.monotonic() - started < 3 + BOUND_S
    log = stop(served)
    assert "Traceback" not in log
    in_flight.close()
    trickling.close()
