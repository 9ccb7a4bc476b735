"""A foreign Origin, and with auth off a foreign Host, is refused before the body is read."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from .envelope_cases import MIB, PATHS, check, encode, send, shaped, valid

if TYPE_CHECKING:
    from conftest import Api


# -- browsers: a foreign Origin, and with auth off a foreign Host (API.md §6) ---------------

GET_ROUTES = ("/healthz", "/openapi.json")
EVIL = {"origin": "http://evil.example", "content-type": "text/plain"}


def _request(api: Api, path: str, headers: dict[str, str], body: Any = None) -> httpx.Response:
    """GET a GET route; POST ``body`` (its well-formed one by default) to an endpoint."""
    if path in GET_ROUTES:
        return api.http.get(path, headers=headers)
    content = body if isinstance(body, bytes) else encode(body or shaped(path))
    return api.post(path, content=content, headers=headers)


@pytest.mark.parametrize("path", PATHS + GET_ROUTES)
def test_foreign_origin_is_ok_4_before_the_body_is_read(api: Api, path: str) -> None:
    # Over the body limit and not JSON too: the Origin answers first.
    check(_request(api, path, EVIL, b"\xff" * (2 * MIB)), 4, field="origin")


@pytest.mark.parametrize("origin", ["null", "http://127.0.0.1.evil.example", "file://"])
@pytest.mark.parametrize("path", ["/query_user_info", "/healthz"])
def test_other_foreign_origins_are_ok_4(api: Api, path: str, origin: str) -> None:
    check(_request(api, path, {"origin": origin}), 4, field="origin")


@pytest.mark.parametrize("path", PATHS + GET_ROUTES)
def test_foreign_host_is_ok_4_with_auth_off(api: Api, path: str) -> None:
    check(_request(api, path, {"host": "evil.example:8000"}), 4, field="host")


@pytest.mark.parametrize("path", PATHS + GET_ROUTES)
def test_own_origin_and_loopback_hosts_are_served(api: Api, path: str) -> None:
    port = api.base_url.rsplit(":", 1)[1]
    for headers in (
        {"origin": api.base_url},  # same origin: the server's own page
        {"host": f"localhost:{port}", "origin": f"http://localhost:{port}"},
        {"host": f"127.0.0.2:{port}"},
        {"host": f"[::1]:{port}"},
        {"host": "localhost"},
        {"user-agent": "Mozilla/5.0 MicroMessenger", "referer": "https://servicewechat.com/"},
    ):
        response = _request(api, path, headers, valid(api, path) if path in PATHS else None)
        if path == "/openapi.json":  # its own format, not the envelope
            assert response.status_code == 200 and "openapi" in response.json()
        else:
            check(response, 0)


def test_cross_site_delete_is_refused_and_deletes_nothing(api: Api) -> None:
    # The curl: a page's no-preflight POST to a local instance.
    user_id = api.new_user()
    check(send(api, "/add_chat", {"user_id": user_id, "role": "user", "msg": "keep me"}), 0)
    body = json.dumps({"user_id": user_id}).encode()
    check(api.post("/delete_sessions", content=body, headers=EVIL), 4, field="origin")
    names = check(send(api, "/query_session_names", {"user_id": user_id}), 0)
    assert len(names["sessions"]) == 1


def test_rebound_host_reads_nothing(api: Api) -> None:
    user_id = api.new_user()
    body = encode({"user_id": user_id})
    reply = check(
        api.post("/query_user_info", content=body, headers={"host": "evil.example:8000"}),
        4,
        field="host",
    )
    assert user_id not in json.dumps(reply)


def test_unknown_path_and_wrong_method_beat_a_foreign_origin(api: Api) -> None:
    check(api.post("/no_such_path", content=b"{}", headers=EVIL), 2)
    check(api.http.get("/add_chat", headers=EVIL), 10)
    check(api.http.post("/healthz", content=b"{}", headers={"host": "evil.example"}), 10)
