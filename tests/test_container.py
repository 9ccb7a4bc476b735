"""The container image (deploy/container/Containerfile), built and run as a user would, with
Podman from Debian's packages.

No image registry can be reached here, so the base image is made on the machine: Debian
bookworm (whose Python is 3.11) by debootstrap, with Python, its venv module and this
machine's certificate authorities and pip settings (so that the build reaches the package
index as the machine does), imported with ``podman import`` and kept between runs. The
Containerfile is built on it with ``--build-arg BASE=…``: everything but the base is what
users get from ``python:3.11-slim``. The image then serves from a volume, answers its health
check, keeps a session across containers, runs as a user of its own, stops at once on
SIGTERM, and refuses to start without a service key.

Podman here needs runc (crun refuses this machine's cgroups) and rlimits it may set: both
come from a containers.conf of the test's own (``CONTAINERS_CONF``), never the machine's.
Skipped, saying why, where Podman cannot run (not root, tools missing); under CI
(``CI=true``, .ci/run installs the tools) that is a failure instead.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from huihua.config import Settings

from .conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILE = ROOT / "deploy" / "container" / "Containerfile"
BASE = "localhost/huihua-base:bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:4096", "nproc=1024:4096"]
[engine]
runtime = "runc"
"""
UID = "10001"


class Podman:
    """Runs podman with the test's own containers.conf."""

    def __init__(self, conf: Path) -> None:
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        done = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {done.returncode}\n{done.stderr}")
        return done.stdout

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )


def _cannot_run() -> str | None:
    """Return why Podman cannot build and run the image here, or None."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, and rootful Podman with runc)"
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} (apt-get install podman runc debootstrap)"
    return None


def _make_base(podman: Podman, work: Path) -> None:
    """Make the base image with debootstrap (about a minute), unless it is there."""
    if podman.run("image", "exists", BASE).returncode == 0:
        return
    rootfs = work / "rootfs"
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", rootfs],
        check=True,
        capture_output=True,
        timeout=900,
    )
    # This machine's certificate authorities and pip's use of them: the build's pip must
    # reach the package index as the machine's does (its proxy may have a CA of its own).
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/")
    (rootfs / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    archive = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["podman", "import", "-", BASE],
        stdin=archive.stdout,
        env=podman.env,
        capture_output=True,
        timeout=600,
    )
    archive.wait(timeout=60)
    assert imported.returncode == 0, imported.stderr
    shutil.rmtree(rootfs)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Podman, str]]:
    reason = _cannot_run()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the container test cannot run under CI: {reason}")
        pytest.skip(f"Podman cannot run here: {reason}")
    work = tmp_path_factory.mktemp("container")
    conf = work / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    podman = Podman(conf)
    _make_base(podman, work)
    tag = f"localhost/huihua-test:{uuid.uuid4().hex[:12]}"
    podman(
        "build",
        "--format=docker",  # keeps HEALTHCHECK (the OCI format has none)
        "--layers=false",  # leaves no intermediate images behind
        "--network=host",
        f"--build-arg=BASE={BASE}",
        "-f",
        str(CONTAINERFILE),
        "-t",
        tag,
        str(ROOT),
        timeout=900,
    )
    try:
        yield podman, tag
    finally:
        podman("rmi", "-f", tag, check=False)


def _wait_healthy(base: str, podman: Podman, name: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(base + "/healthz", timeout=2)
            if reply.status_code == 200:
                return reply.json()
        except httpx.TransportError:
            pass
        state = podman("inspect", name, "--format", "{{.State.Status}}", check=False).strip()
        assert state in ("created", "running", "configured"), podman("logs", name, check=False)
        time.sleep(0.2)
    raise AssertionError("the container did not answer /healthz: " + podman("logs", name))


@pytest.mark.podman
@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_image_serves_from_a_volume_as_a_user_and_stops_cleanly(
    image: tuple[Podman, str], tmp_path: Path
) -> None:
    podman, tag = image
    run_id = uuid.uuid4().hex[:12]
    volume, names = f"huihua-test-{run_id}", [f"huihua-test-{run_id}-{n}" for n in (1, 2)]
    key = secrets.token_urlsafe(32)
    secret = tmp_path / "service_key"
    secret.write_text(key)
    secret.chmod(0o644)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    podman("volume", "create", volume)

    def start(name: str) -> None:
        podman(
            "run",
            "-d",
            "--name",
            name,
            "-p",
            f"127.0.0.1:{port}:8000",
            "-v",
            f"{volume}:/var/lib/huihua",
            "-v",
            f"{secret}:/run/secrets/huihua_service_key:ro",
            "-e",
            "HUIHUA_SERVICE_KEY_FILE=/run/secrets/huihua_service_key",
            tag,
        )

    auth = {"Authorization": f"Bearer {key}"}
    try:
        start(names[0])
        health = _wait_healthy(base, podman, names[0])
        assert health["ok"] == 0 and health["store"] == "sqlite" and health["durable"] is True
        assert podman.run("healthcheck", "run", names[0]).returncode == 0  # the image's check
        assert podman("exec", names[0], "id", "-u").strip() == UID
        assert podman("top", names[0], "huser").split()[1:] == [UID]  # PID 1, huihua: not root
        with httpx.Client(base_url=base, timeout=10) as http:
            # every address, auth required: no credential, no data
            assert http.post("/query_user_info", json={"user_id": "u1"}).json()["ok"] == 3
            assert http.post("/add_user", json={"user_id": "u1"}, headers=auth).json()["ok"] == 0
            body = {"user_id": "u1", "session_id": "s1", "role": "user", "msg": "你好，容器"}
            assert http.post("/add_chat", json=body, headers=auth).json()["ok"] == 0
        started = time.monotonic()
        podman("stop", "-t", "30", names[0], timeout=60)  # SIGTERM; SIGKILL only after 30 s
        assert time.monotonic() - started < 10
        assert podman("inspect", names[0], "--format", "{{.State.ExitCode}}").strip() == "0"
        assert "Finished server process" in podman.run("logs", names[0]).stderr
        podman("rm", names[0])
        start(names[1])  # a new container on the same volume finds the store
        _wait_healthy(base, podman, names[1])
        with httpx.Client(base_url=base, timeout=10) as http:
            query = {"user_id": "u1", "session_id": "s1"}
            read = http.post("/query_session_info", json=query, headers=auth).json()
        assert [c["msg"] for c in read["chats"]] == ["你好，容器"], read
    finally:
        for name in names:
            podman("rm", "-f", name, check=False)
        podman("volume", "rm", "-f", volume, check=False)


@pytest.mark.podman
@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_image_will_not_start_without_a_service_key(image: tuple[Podman, str]) -> None:
    podman, tag = image
    refused = podman.run("run", "--rm", tag)
    assert refused.returncode == 64
    assert "no service key" in refused.stderr and "HUIHUA_SERVICE_KEY_FILE" in refused.stderr
    unreadable = podman.run("run", "--rm", "-e", "HUIHUA_SERVICE_KEY_FILE=/nowhere", tag)
    assert unreadable.returncode == 64
    assert "HUIHUA_SERVICE_KEY_FILE names /nowhere" in unreadable.stderr
    short = podman.run("run", "--rm", "-e", "HUIHUA_SERVICE_KEY=short", tag)  # huihua's own
    assert short.returncode != 0 and "refusing to listen" in short.stderr, short.stderr
    assert "Traceback" not in short.stderr


# -- what the files say, checked wherever the tests run (Podman or not) --------------------

SETTINGS = {f"HUIHUA_{f.name.upper()}" for f in dataclasses.fields(Settings)}


def _instructions() -> list[tuple[str, str]]:
    """Return the Containerfile's instructions as (KEYWORD, the rest), lines joined."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split()[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_containerfile_builds_the_image_the_docs_describe() -> None:
    steps = _instructions()
    assert steps[0] == ("ARG", "BASE=python:3.11-slim")
    assert [rest for key, rest in steps if key == "FROM"] == ["${BASE} AS build", "${BASE}"]
    runs = " ".join(rest for key, rest in steps if key == "RUN")
    assert "pip install -c requirements.lock ." in runs  # the locked dependencies
    user = next(rest for key, rest in steps if key == "USER")
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), user  # numeric, not root
    assert ("VOLUME", '["/var/lib/huihua"]') in steps
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(rest for key, rest in steps if key == "ENV")))
    assert env["HUIHUA_DATABASE_URL"] == "sqlite:////var/lib/huihua/huihua.db"
    assert env["HUIHUA_HOST"] == "0.0.0.0"
    assert int(env["HUIHUA_SHUTDOWN_TIMEOUT"]) < 10  # within the runtimes' 10 s grace
    assert {name for name in env if name.startswith("HUIHUA_")} <= SETTINGS
    assert ("STOPSIGNAL", "SIGTERM") in steps
    health = next(rest for key, rest in steps if key == "HEALTHCHECK")
    assert "http://127.0.0.1:8000/healthz" in health
    ignored = (ROOT / ".dockerignore").read_text().split()
    for key, rest in steps:
        if key == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert source.split("/")[0] not in ignored, source


def test_the_entrypoint_is_valid_sh() -> None:
    entrypoint = ROOT / "deploy" / "container" / "entrypoint.sh"
    assert subprocess.run(["sh", "-n", str(entrypoint)], capture_output=True).returncode == 0
    assert os.access(entrypoint, os.X_OK)


def test_the_compose_file_runs_the_image_on_postgresql() -> None:
    compose_path = ROOT / "deploy" / "container" / "compose.yaml"
    compose = yaml.safe_load(compose_path.read_text())
    huihua = compose["services"]["huihua"]
    context = (compose_path.parent / huihua["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / huihua["build"]["dockerfile"]) == CONTAINERFILE
    env = huihua["environment"]
    for name in env:
        assert name in SETTINGS or name.removesuffix("_FILE") in SETTINGS, name
    assert env["HUIHUA_DATABASE_URL"].startswith("postgresql://huihua:")
    assert "@postgres:5432/huihua" in env["HUIHUA_DATABASE_URL"]
    assert huihua["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert all(port.startswith("127.0.0.1:") for port in huihua["ports"])
    assert int(huihua["stop_grace_period"].removesuffix("s")) > 10
    for secret in compose["secrets"].values():
        path = compose_path.parent / secret["file"]
        assert (
            subprocess.run(
                ["git", "-C", str(ROOT), "check-ignore", "-q", str(path)], check=False
            ).returncode
            == 0
        ), f"{path} must be ignored by git: it holds a secret"
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
