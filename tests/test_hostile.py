"""Hostile bodies against a real ``huihua serve`` (SQLite, started by the CLI).

Each body of the battery gets its code, in the envelope with its status, within a second;
the battery is sent several times and the server's resident memory must grow by less than
64 MiB over all of it (a leak, or a body held whole many times over, would show).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import free_port
from .helpers import STATUS, start_serve

MIB = 1_048_576
ROUNDS = 8  # a body kept alive per request (a cycle) would pass 64 MiB by then
ANSWER_WITHIN_S = 1.0
RSS_GROWTH_MAX = 64 * MIB
USER = "hostile-user"


def _rss(pid: int) -> int:
    """Return the resident set size of process ``pid`` in bytes (/proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A ``huihua serve`` process on a fresh SQLite file: its base URL and pid."""
    port = free_port()
    process = start_serve(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _chat(extra: bytes = b"") -> bytes:
    return b'{"user_id": "%s", "role": "user", "msg": "hi"%s}' % (USER.encode(), extra)


def _over_limit() -> bytes:
    head = b'{"user_id": "%s", "role": "user", "msg": "' % USER.encode()
    body = head + b"x" * (MIB + 1 - len(head) - 2) + b'"}'
    assert len(body) == MIB + 1
    return body


def _chunks(data: bytes) -> Callable[[], Iterator[bytes]]:
    def gen() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for start in range(0, len(data), 65_536):
            yield data[start : start + 65_536]

    return gen


def _many_keys() -> bytes:
    keys = b",".join(b'"%x":0' % i for i in range(100_000))
    return b'{"user_id": "%s", ' % USER.encode() + keys + b"}"


# (name, path, body or a function that returns chunks, ok expected, `failed` starts with)
BATTERY: list[tuple[str, str, bytes | Callable[[], Iterator[bytes]], int, str]] = [
    ("1 MiB + 1, with Content-Length", "/add_chat", _over_limit(), 6, "body:"),
    ("1 MiB + 1, chunked", "/add_chat", _chunks(_over_limit()), 6, "body:"),
    ("10,000 deep", "/add_chat", b"[" * 10_000 + b"]" * 10_000, 1, "body:"),
    (
        "10,000 deep in meta",
        "/add_chat",
        _chat(b', "meta": {"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"),
        1,
        "meta:",
    ),
    ("100,000 unknown keys", "/add_chat", _many_keys(), 1, ""),
    ("100,000 profile fields", "/add_user", _many_keys(), 6, "profile"),
    ("1e400 in meta", "/add_chat", _chat(b', "meta": {"cost": 1e400}'), 1, "meta:"),
    ("lone surrogate", "/add_chat", _chat(b', "session_title": "\\ud800"'), 1, "session_title:"),
    ("escaped NUL", "/add_chat", _chat(b', "session_title": "a\\u0000b"'), 1, "session_title:"),
    ("raw NUL byte", "/add_chat", _chat(b', "session_title": "a\x00b"'), 1, "body:"),
    ("duplicate keys", "/add_chat", _chat(b', "msg": "last"'), 0, ""),
]


@pytest.mark.slow
def test_hostile_bodies_are_answered_quickly_in_bounded_memory(
    server: tuple[str, int],
) -> None:
    base, pid = server
    with httpx.Client(base_url=base, timeout=30) as http:
        reply = http.post("/add_user", json={"user_id": USER})
        assert reply.json()["ok"] == 0, reply.text
        before = _rss(pid)
        peak = before
        for round_ in range(ROUNDS):
            for name, path, body, ok, failed in BATTERY:
                content = body() if callable(body) else body
                started = time.monotonic()
                response = http.post(
                    path, content=content, headers={"content-type": "application/json"}
                )
                took = time.monotonic() - started
                reply = response.json()
                assert (reply["ok"], response.status_code) == (ok, STATUS[ok]), (name, reply)
                assert reply["failed"].startswith(failed), (name, reply)
                assert isinstance(reply["request_id"], str) and reply["request_id"], (name, reply)
                assert took < ANSWER_WITHIN_S, f"{name}: answered in {took:.2f} s (round {round_})"
                peak = max(peak, _rss(pid))
        assert http.get("/healthz").json()["ok"] == 0
    grown, peaked = (_rss(pid) - before) / MIB, (peak - before) / MIB
    assert grown < RSS_GROWTH_MAX / MIB, f"RSS grew by {grown:.1f} MiB (peak +{peaked:.1f})"
    assert peaked < RSS_GROWTH_MAX / MIB, f"RSS peaked {peaked:.1f} MiB above its start"
