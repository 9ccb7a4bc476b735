"""Rate limits per user and per client address (ok 7 with Retry-After), OWASP API4.

The limits do not touch the store, so most run on SQLite only; the last test runs two real
server processes sharing one Redis and checks that the limit holds in sum.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from .access import NONE, answer, code_for, login, new_openid, send
from .conftest import SERVICE_KEY, free_port, secure_settings

if TYPE_CHECKING:
    from .conftest import Api
    from .fake_wechat import FakeWeChat

REDIS_URL = os.environ.get("HUIHUA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _user_info(api: Api, user_id: str, credential: object = SERVICE_KEY, **headers: str):
    return send(api, "/query_user_info", {"user_id": user_id}, credential, headers=headers)


def test_one_users_burst_never_slows_another(serve, wechat: FakeWeChat) -> None:
    api = serve("sqlite", **secure_settings(wechat, rate_limit_user=5, rate_limit_address=0))
    a, b = login(api), login(api)  # logging in names no user before WeChat answers
    codes = [answer(_user_info(api, a["user_id"], a["token"])) for _ in range(3)]
    codes += [answer(_user_info(api, a["user_id"])) for _ in range(2)]  # the back end, for A
    assert codes == [0] * 5
    over = _user_info(api, a["user_id"], a["token"])
    assert answer(over) == 7
    assert 1 <= int(over.headers["retry-after"]) <= 12  # one request per 12 s refills
    assert answer(_user_info(api, a["user_id"])) == 7  # the service key is limited per user
    assert answer(_user_info(api, b["user_id"], b["token"])) == 0
    # API.md §1: a bad credential (3) answers before the limit (7), the limit before fields
    assert answer(_user_info(api, a["user_id"], "forged")) == 3
    bad_field = {"user_id": a["user_id"], "limit": "x"}
    assert answer(send(api, "/query_session_names", bad_field, a["token"])) == 7


def test_per_address_behind_a_trusted_proxy(serve, wechat: FakeWeChat) -> None:
    api = serve(
        "sqlite",
        **secure_settings(
            wechat, rate_limit_user=0, rate_limit_address=3, trusted_proxies="127.0.0.1/32"
        ),
    )
    a = login(api, headers={"x-forwarded-for": "192.0.2.1"})
    token, user_id = a["token"], a["user_id"]

    def hit(forwarded: str, credential: object = token) -> int:
        return answer(_user_info(api, user_id, credential, **{"x-forwarded-for": forwarded}))

    assert [hit("203.0.113.7") for _ in range(3)] == [0, 0, 0]
    assert hit("203.0.113.7") == 7
    assert hit("203.0.113.8") == 0  # another client behind the same proxy
    assert hit("198.51.100.1, 203.0.113.7") == 7  # a spoofed first hop changes nothing
    assert hit("203.0.113.7", SERVICE_KEY) == 0  # the back end is exempt per address
    # IPv6 clients are counted per /64
    assert [hit("2001:db8:1:2::1"), hit("2001:db8:1:2::2"), hit("2001:db8:1:2::3")] == [0] * 3
    assert hit("2001:db8:1:2:ffff::9") == 7
    assert hit("2001:db8:1:3::1") == 0


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(serve, wechat: FakeWeChat) -> None:
    api = serve("sqlite", **secure_settings(wechat, rate_limit_user=0, rate_limit_address=3))
    results = []
    for i in range(4):
        code = code_for(new_openid())
        forwarded = {"x-forwarded-for": f"203.0.113.{i + 10}"}
        results.append(answer(send(api, "/login", {"code": code}, NONE, headers=forwarded)))
    assert results == [0, 0, 0, 7]


def test_a_limited_login_never_reaches_wechat(serve, wechat: FakeWeChat) -> None:
    api = serve("sqlite", **secure_settings(wechat, rate_limit_user=0, rate_limit_address=1))
    assert answer(send(api, "/login", {"code": code_for(new_openid())}, NONE)) == 0
    code = code_for(new_openid())
    assert answer(send(api, "/login", {"code": code}, NONE)) == 7
    assert wechat.count(code) == 0


def test_limits_are_off_with_auth_off(serve) -> None:
    api = serve("sqlite", rate_limit_user=1, rate_limit_address=1)
    user_id = api.new_user()
    assert all(api.call("/query_user_info", user_id=user_id)["ok"] == 0 for _ in range(5))


def test_when_redis_does_not_answer_requests_pass_and_a_warning_is_logged(
    serve, wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with caplog.at_level(logging.WARNING, logger="huihua.ratelimit"):
        api = serve("sqlite", **secure_settings(wechat, rate_limit_user=1, redis_url=dead))
        api.http.headers["authorization"] = f"Bearer {SERVICE_KEY}"
        user_id = f"u-{uuid.uuid4().hex}"
        assert [api.call("/query_user_info", user_id=user_id)["ok"] for _ in range(3)] == [2] * 3
    assert "Redis does not answer" in caplog.text


# -- two server processes, one Redis --------------------------------------------------------


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "huihua", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            httpx.get(base + "/healthz", timeout=2)
            return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not come up")


@pytest.mark.redis
def test_with_redis_the_limit_holds_in_sum_across_two_processes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
    env |= {
        "HUIHUA_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "HUIHUA_SERVICE_KEY": SERVICE_KEY,
        "HUIHUA_REDIS_URL": REDIS_URL,
        "HUIHUA_RATE_LIMIT_USER": "10",
        "HUIHUA_RATE_LIMIT_ADDRESS": "0",
        "HUIHUA_LOG_LEVEL": "warning",
    }
    servers = []
    try:
        servers.append(_start(tmp_path, env))
        servers.append(_start(tmp_path, env))
        headers = {"authorization": f"Bearer {SERVICE_KEY}"}
        clients = [httpx.Client(base_url=base, headers=headers) for _, base in servers]
        user, other = f"u-{uuid.uuid4().hex}", f"u-{uuid.uuid4().hex}"
        started = time.monotonic()
        codes = [
            clients[i % 2].post("/query_user_info", json={"user_id": user}).json()["ok"]
            for i in range(16)
        ]
        elapsed = time.monotonic() - started
        refilled = int(elapsed // 6)  # 10 a minute: one more every 6 s
        assert 10 <= codes.count(2) <= 10 + refilled, codes
        assert codes.count(7) == 16 - codes.count(2)
        assert codes[:10] == [2] * 10
        # the other user is untouched, on both servers
        for client in clients:
            assert client.post("/query_user_info", json={"user_id": other}).json()["ok"] == 2
        for client in clients:
            client.close()
    finally:
        for process, _ in servers:
            process.terminate()
            process.communicate(timeout=30)
