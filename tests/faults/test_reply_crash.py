"""Faults: a real `huihua serve` killed, or stopped, while it generates a reply (API.md §8.4).

- SIGKILL mid-reply, then a restart: the reply is set ``failed`` by the new process's sweep
  (its lease ran out), with the text flushed before the kill and ``meta.error``; nothing is
  left ``streaming`` within 60 s.
- SIGTERM mid-reply: the server fails the reply it cannot finish before its shutdown
  timeout, keeping its text, and exits within the timeout: none is left ``streaming``; a
  reply that ends within the timeout is finished ``complete``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .. import sse
from ..conftest import MODEL_KEY, free_port
from ..fake_model import FakeModel
from ..fake_script import Reply, chinese_pieces, wait_until
from ..test_lifecycle import BOUND_S, Served, serve, stop

pytestmark = pytest.mark.slow

LEASE_S = 30  # relay/task.py LEASE_MS
SWEEP_S = 10  # relay/hub.py SWEEP_EVERY_S


@pytest.fixture(scope="module")
def slow_model() -> Iterator[FakeModel]:
    fake = FakeModel(free_port())
    yield fake
    fake.stop()


def _serve(tmp_path: Path, model: FakeModel, **more: str) -> Served:
    return serve(
        tmp_path,
        llm_base_url=model.base_url,
        llm_api_key=MODEL_KEY,
        llm_models="fake-chat",
        **more,
    )


def _reply(base: str, user: str) -> dict[str, Any]:
    info = httpx.post(f"{base}/query_session_info", json={"user_id": user, "session_id": "s"})
    return info.json()["chats"][-1]


def _start(served: Served, pieces: list[str], delay_s: float, model: FakeModel) -> None:
    model.reset()
    model.default = Reply(content=pieces, delay_s=delay_s)
    assert httpx.post(f"{served.base}/add_user", json={"user_id": "u"}).json()["ok"] == 0
    sse.first_events(api_of(served), "/ask_ai", {"user_id": "u", "session_id": "s", "msg": "诗"}, 3)


def test_sigkill_mid_reply_then_restart_fails_it_keeping_its_text(
    tmp_path: Path, slow_model: FakeModel
):
    pieces = chinese_pieces(400)
    served = _serve(tmp_path, slow_model)
    _start(served, pieces, 0.05, slow_model)
    wait_until(lambda: _reply(served.base, "u")["msg"] != "", "a flush", timeout_s=BOUND_S)
    served.process.send_signal(signal.SIGKILL)
    served.process.wait(timeout=BOUND_S)
    killed = time.monotonic()
    again = _serve(tmp_path, slow_model)
    try:
        flushed = _reply(again.base, "u")
        assert flushed["status"] == "streaming" and "".join(pieces).startswith(flushed["msg"])
        wait_until(
            lambda: _reply(again.base, "u").get("status") == "failed",
            "the dead server's reply failed",
            timeout_s=60,
        )
        assert time.monotonic() - killed < LEASE_S + SWEEP_S + BOUND_S
        reply = _reply(again.base, "u")
        assert reply["msg"] == flushed["msg"] != ""  # the text flushed before the kill
        assert "stopped" in reply["meta"]["error"]
        follow = {"user_id": "u", "session_id": "s", "seq": 2}
        events = sse.stream(api_of(again), "/follow_reply", follow)
        assert events[-1].data["status"] == "failed"
    finally:
        stop(again)


def test_sigterm_fails_the_reply_it_cannot_finish_and_exits_in_time(
    tmp_path: Path, slow_model: FakeModel
):
    pieces = chinese_pieces(400)
    served = _serve(tmp_path, slow_model, shutdown_timeout="4")
    _start(served, pieces, 0.05, slow_model)
    signalled = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(timeout=4 + BOUND_S)
    assert time.monotonic() - signalled < 4 + 2, "not within the shutdown timeout"
    again = _serve(tmp_path, slow_model)
    try:
        reply = _reply(again.base, "u")
        assert reply["status"] == "failed", reply
        assert reply["meta"]["error"] == "the server stopped before the reply was done"
        assert reply["msg"] and "".join(pieces).startswith(reply["msg"])
    finally:
        log = stop(again)
    assert "Traceback" not in served.log.read_text() + log


def test_sigterm_lets_a_reply_that_ends_in_time_finish(tmp_path: Path, slow_model: FakeModel):
    pieces = chinese_pieces(20)
    served = _serve(tmp_path, slow_model, shutdown_timeout="6")
    _start(served, pieces, 0.05, slow_model)
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(timeout=6 + BOUND_S)
    again = _serve(tmp_path, slow_model)
    try:
        reply = _reply(again.base, "u")
        assert "status" not in reply and reply["msg"] == "".join(pieces), reply
    finally:
        stop(again)


class api_of:
    def __init__(self, served: Served) -> None:
        self.base_url = served.base

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.base_url + path, json=body, timeout=60, **kwargs)
