"""The `huihua` command as an operator runs it: a real server process, and migrate."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import free_port

HUIHUA = [sys.executable, "-m", "huihua"]


def _env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
    return env | variables


def _wait_healthy(base: str, process: subprocess.Popen) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            return httpx.get(base + "/healthz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


def test_serve_on_the_embedded_default_in_a_fresh_directory(tmp_path: Path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*HUIHUA, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = _wait_healthy(base, process)
        assert health.json()["ok"] == 0
        assert health.json()["store"] == "sqlite"
        assert health.json()["durable"] is True
        with httpx.Client(base_url=base) as http:
            assert http.post("/add_user", json={"user_id": "smoke"}).json()["ok"] == 0
            added = http.post(
                "/add_chat", json={"user_id": "smoke", "role": "user", "msg": "你好"}
            ).json()
            assert added["ok"] == 0 and added["seq"] == 1
            info = http.post(
                "/query_session_info", json={"user_id": "smoke", "session_id": added["session_id"]}
            ).json()
            assert [c["msg"] for c in info["chats"]] == ["你好"]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert (tmp_path / "huihua.db").exists()
    assert "route=/add_chat ok=0 status=200" in stderr
    assert "你好" not in stderr  # message text never reaches the log


@pytest.mark.postgresql
def test_serve_refuses_a_server_database_whose_schema_is_not_current(databases):
    url = databases.create("postgresql")
    result = subprocess.run(
        [*HUIHUA, "serve", "--port", str(free_port()), "--database-url", url],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "huihua migrate" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.mysql
def test_migrate_then_serve_with_two_workers_on_mariadb(databases):
    url = databases.create("mysql")
    first = subprocess.run(
        [*HUIHUA, "migrate"], env=_env(HUIHUA_DATABASE_URL=url), capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    assert "upgraded from revision none" in first.stdout
    again = subprocess.run(
        [*HUIHUA, "migrate"], env=_env(HUIHUA_DATABASE_URL=url), capture_output=True, text=True
    )
    assert "already at revision" in again.stdout
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*HUIHUA, "serve", "--port", str(port), "--workers", "2"],
        env=_env(HUIHUA_DATABASE_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_healthy(base, process).json()["store"] == "mysql"
        with httpx.Client(base_url=base) as http:
            assert http.post("/add_user", json={"user_id": "w"}).json()["ok"] == 0
            body = {"user_id": "w", "session_id": "s", "role": "user", "msg": "m"}
            seqs = [http.post("/add_chat", json=body).json()["seq"] for _ in range(10)]
        assert seqs == list(range(1, 11))
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_help_is_complete():
    for command in ([], ["serve"], ["migrate"]):
        result = subprocess.run([*HUIHUA, *command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0
    serve_help = subprocess.run([*HUIHUA, "serve", "--help"], capture_output=True, text=True)
    for option in ("--host", "--port", "--workers", "--database-url", "--log-level"):
        assert option in serve_help.stdout


@pytest.mark.slow
def test_serve_beyond_loopback_without_a_service_key_refuses_and_says_why(tmp_path: Path):
    for args, env in (
        (["--host", "0.0.0.0"], {}),
        (["--host", "::"], {}),
        (["--host", "0.0.0.0"], {"HUIHUA_SERVICE_KEY": "sh0rtKEY"}),
        (["--host", "0.0.0.0"], {"HUIHUA_SERVICE_KEY": "k" * 40}),
        (
            ["--host", "0.0.0.0"],
            {"HUIHUA_SERVICE_KEY": "Zx9" + "q1w2e3r4t5y6" * 3, "HUIHUA_TOKEN_SECRET": "d3vTOKEN"},
        ),
    ):
        result = subprocess.run(
            [*HUIHUA, "serve", *args, "--port", str(free_port())],
            cwd=tmp_path,
            env=_env(**env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0, (args, env)
        assert "refusing to listen" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        if not env:
            assert "HUIHUA_SERVICE_KEY" in result.stderr and "--allow-no-auth" in result.stderr
        for secret in env.values():
            assert secret not in result.stderr  # a refused secret is not echoed
    assert not (tmp_path / "huihua.db").exists()  # refused before touching the store
