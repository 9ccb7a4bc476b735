"""deploy/: the systemd unit passes ``systemd-analyze verify``, and the nginx site passes
``nginx -t`` and works: a private nginx (its own prefix, free ports, never the system's)
serves it in front of a real ``huihua serve``, over TLS with a throwaway certificate.

systemd-analyze and nginx come from Debian's packages (.ci/run installs nginx without
starting it).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import free_port
from .helpers import start_serve

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CANARY = "CANARY-body-0123456789"


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else "")
    assert path, f"{name} is needed (Debian's packages; .ci/run installs it)"
    return path


@pytest.mark.nginx
def test_the_systemd_unit_verifies_clean(tmp_path: Path) -> None:
    unit = (DEPLOY / "huihua.service").read_text()
    assert "ExecStart=/opt/huihua/bin/huihua serve" in unit
    # verify checks that ExecStart's program exists: point it at the installed one
    huihua = shutil.which("huihua")
    assert huihua, "the huihua command is installed (pip install -e .)"
    (tmp_path / "huihua.service").write_text(unit.replace("/opt/huihua/bin/huihua", huihua))
    run = subprocess.run(
        [_tool("systemd-analyze"), "verify", str(tmp_path / "huihua.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # an unknown key or a bad value is only a warning: any line about the unit fails too
    assert run.returncode == 0, run.stderr
    assert "huihua.service" not in run.stderr, run.stderr
    for setting in ("LimitNOFILE=65536", "TimeoutStopSec=20", "KillSignal=SIGTERM"):
        assert setting in unit


@pytest.mark.nginx
def test_systemd_analyze_does_see_a_bad_unit(tmp_path: Path) -> None:
    (tmp_path / "bad.service").write_text("[Service]\nExecStart=/bin/true\nTimeoutStopSek=20\n")
    run = subprocess.run(
        [_tool("systemd-analyze"), "verify", str(tmp_path / "bad.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "bad.service" in run.stderr


class PrivateNginx:
    """deploy/huihua-nginx.conf in an nginx of its own: ports, certificate, logs in tmp."""

    def __init__(self, tmp: Path, upstream_port: int) -> None:
        self.tmp = tmp
        self.https_port, self.http_port = free_port(), free_port()
        self.access_log = tmp / "huihua.access.log"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-subj", "/CN=localhost", "-keyout", str(tmp / "key.pem")),
                *("-out", str(tmp / "cert.pem")),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        site = (DEPLOY / "huihua-nginx.conf").read_text()
        for old, new in {
            "listen [::]:80;": "",
            "listen [::]:443 ssl http2;": "",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{self.https_port} ssl http2;",
            "/etc/ssl/huihua/fullchain.pem": str(tmp / "cert.pem"),
            "/etc/ssl/huihua/privkey.pem": str(tmp / "key.pem"),
            "/var/log/nginx/huihua.access.log": str(self.access_log),
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        }.items():
            assert old in site, old
            site = site.replace(old, new)
        (tmp / "site.conf").write_text(site)
        temp_paths = "".join(
            f"    {kind}_temp_path {tmp / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.conf = tmp / "nginx.conf"
        self.conf.write_text(
            # as root, a worker as root too: the test's tmp folders are root's alone
            f"user root;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'};\n"
            "events {}\n"
            f"http {{\n    access_log {tmp / 'other.access.log'};\n{temp_paths}"
            f"    include {tmp / 'site.conf'};\n}}\n"
        )
        self.process: subprocess.Popen | None = None

    def test(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [_tool("nginx"), "-t", "-p", str(self.tmp), "-c", str(self.conf)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [_tool("nginx"), "-p", str(self.tmp), "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, (self.tmp / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen in 30 s"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.mark.nginx
def test_the_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    run = PrivateNginx(tmp_path, free_port()).test()
    assert run.returncode == 0, run.stderr
    assert "test is successful" in run.stderr, run.stderr


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[PrivateNginx, subprocess.Popen]]:
    port = free_port()
    (tmp_path / "huihua").mkdir()
    server = start_serve(tmp_path / "huihua", port)
    nginx = PrivateNginx(tmp_path, port)
    nginx.start()
    yield nginx, server
    nginx.stop()
    if server.poll() is None:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.nginx
def test_the_nginx_site_in_front_of_huihua(proxied: tuple[PrivateNginx, subprocess.Popen]) -> None:
    nginx, server = proxied
    base = f"https://127.0.0.1:{nginx.https_port}"
    with httpx.Client(base_url=base, verify=False, timeout=30) as http:
        # TLS through to huihua, and its envelope back
        reply = http.post("/add_user", json={"user_id": "u1", "user_name": "tester"}).json()
        assert reply["ok"] == 0, reply
        sent = {"user_id": "u1", "role": "user", "msg": CANARY, "session_id": "s1"}
        assert http.post(f"/add_chat?q={CANARY}", json=sent).json()["ok"] == 0
        # over huihua's 1 MiB: huihua's own ok 6; past nginx's 2 MiB: the same envelope
        big = http.post("/add_chat", content=b"x" * (1536 * 1024))
        assert (big.status_code, big.json()["ok"]) == (413, 6)
        huge = http.post("/add_chat", content=b"x" * (3 * 1024 * 1024))
        assert huge.status_code == 413
        body = huge.json()
        assert body["ok"] == 6 and re.fullmatch(r"[0-9a-f]{32}", body["request_id"]), body
        # huihua down: ok 8 with Retry-After, as huihua's own, so clients retry
        server.terminate()
        server.wait(timeout=30)
        down = http.post("/add_chat", json=sent)
        assert down.status_code == 503
        assert down.json()["ok"] == 8 and down.headers["retry-after"] == "1"
        assert down.headers["cache-control"] == "no-store"
    # plain HTTP goes to HTTPS
    plain = httpx.post(f"http://127.0.0.1:{nginx.http_port}/add_user", json={})
    assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
    # no body, no query string in nginx's access log; each request has its line
    log = nginx.access_log.read_text()
    assert CANARY not in log
    assert log.count("POST /add_chat") == 4, log
