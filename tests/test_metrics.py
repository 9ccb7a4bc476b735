"""GET /metrics (API.md §5.6, §6): Prometheus' text, labelled by route name only; the
service key with auth on; the sum of every worker's counts with `huihua serve --workers N`."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .access import NONE, login, send
from .conftest import SERVICE_KEY, free_port, secure_settings
from .test_cli import HUIHUA, _env, _wait_healthy
from .test_runner import unavailable_fault

if TYPE_CHECKING:
    from .conftest import Api
    from .fake_wechat import FakeWeChat

# each store's driver code of the fault unavailable_fault raises
FAULT_CODE = {"sqlite": "SQLITE_ERROR", "postgresql": "57P01", "mysql": "2013"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of a scrape by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_latency_and_group_commits_by_route(serve) -> None:
    api: Api = serve("sqlite")
    user_id = api.new_user()
    session_id = f"s-{uuid.uuid4().hex}"
    for i in range(5):
        reply = api.call(
            "/add_chat", user_id=user_id, session_id=session_id, role="user", msg=f"m{i}"
        )
        assert reply["ok"] == 0
    assert api.call("/add_chat", user_id=user_id, role="robot", msg="x")["ok"] == 1
    secret_path = f"/no-such-path-{uuid.uuid4().hex}"
    assert api.post(secret_path, {}).status_code == 404
    response = api.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert value(text, "huihua_requests_total", route="/add_chat", ok="0") == 5
    assert value(text, "huihua_requests_total", route="/add_chat", ok="1") == 1
    assert value(text, "huihua_requests_total", route="/add_user", ok="0") == 1
    assert value(text, "huihua_requests_total", route="(unknown)", ok="2") == 1
    assert value(text, "huihua_request_seconds_count", route="/add_chat") == 6
    assert value(text, "huihua_request_seconds_bucket", route="/add_chat", le="+Inf") == 6
    # the six writes that reached the store (add_user, five add_chat), in groups of any size
    assert value(text, "huihua_group_commit_writes_sum") == 6
    assert 1 <= value(text, "huihua_group_commit_writes_count") <= 6
    # labels are route names: never a user id, a session id or a raw path
    for secret in (user_id, session_id, secret_path):
        assert secret not in text
    again = api.http.get("/metrics").text  # the scrape itself is counted from then on
    assert value(again, "huihua_requests_total", route="/metrics", ok="0") == 1


def test_store_errors_by_kind_and_driver_code(api: Api) -> None:
    user_id = api.new_user()
    store = api.app.state.store
    store.runner.inject_fault(unavailable_fault(api.kind))
    try:
        reply = api.call("/add_chat", user_id=user_id, role="user", msg="never stored")
    finally:
        store.runner.inject_fault(None)
    assert reply["ok"] == 8
    text = api.http.get("/metrics").text
    code = FAULT_CODE[api.kind]
    assert value(text, "huihua_store_errors_total", kind="unavailable", code=code) >= 1
    assert value(text, "huihua_requests_total", route="/add_chat", ok="8") >= 1


def test_rate_limit_refusals_and_auth(serve, wechat: FakeWeChat) -> None:
    api = serve("sqlite", **secure_settings(wechat, rate_limit_user=2, rate_limit_address=0))
    user = login(api)
    codes = [send(api, "/query_user_info", {}, user["token"]).json()["ok"] for _ in range(4)]
    assert codes == [0, 0, 7, 7]
    assert send(api, "/metrics", credential=NONE, method="GET").json()["ok"] == 3
    assert send(api, "/metrics", credential=user["token"], method="GET").json()["ok"] == 4
    scrape = send(api, "/metrics", credential=SERVICE_KEY, method="GET")
    assert scrape.status_code == 200
    assert value(scrape.text, "huihua_rate_limited_total", route="/query_user_info") == 2
    assert value(scrape.text, "huihua_requests_total", route="/metrics", ok="3") == 1
    assert value(scrape.text, "huihua_requests_total", route="/metrics", ok="4") == 1
    assert user["user_id"] not in scrape.text


@pytest.mark.slow
def test_several_workers_count_together(tmp_path: Path) -> None:
    """Each worker counts its own requests; any of them answers a scrape with the sum."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*HUIHUA, "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(base, process)
        requests = 60
        for i in range(requests):  # a new connection each: the workers take turns accepting
            with httpx.Client(base_url=base) as http:
                assert http.post("/add_user", json={"user_id": f"w{i}"}).json()["ok"] == 0
        for _ in range(6):
            with httpx.Client(base_url=base) as http:
                text = http.get("/metrics").text
            assert value(text, "huihua_requests_total", route="/add_user", ok="0") == requests
            assert value(text, "huihua_group_commit_writes_sum") == requests
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    assert not re.search(r"huihua-metrics-\w+", str(list(tmp_path.iterdir())))
