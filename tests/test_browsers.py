"""Browsers (API.md §6): the Origin rule always, the Host rule with auth off, and what the
settings let through (``cors_origins``, ``allowed_hosts``). The rules on every endpoint of
the default server are in test_envelope_browsers.py."""

from __future__ import annotations

from typing import Any

from .conftest import SERVICE_KEY, secure_settings
from .helpers import STATUS

ADMIN = "https://admin.example"


def _call(api: Any, path: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = api.post(path, body, headers=headers)
    reply = response.json()
    assert response.status_code == STATUS[reply["ok"]], (response.status_code, reply)
    return reply


def test_a_configured_cors_origin_is_served_with_cors_headers(serve) -> None:
    api = serve("sqlite", cors_origins=f"{ADMIN}, https://other.example")
    response = api.post("/add_user", {"user_id": "u-cors"}, headers={"origin": ADMIN})
    assert response.json()["ok"] == 0, response.json()
    assert response.headers["access-control-allow-origin"] == ADMIN
    assert _call(api, "/query_user_info", {"user_id": "u-cors"}, origin=ADMIN)["ok"] == 0
    refused = _call(api, "/query_user_info", {"user_id": "u-cors"}, origin="https://evil.example")
    assert refused["ok"] == 4 and refused["failed"].startswith("origin:")


def test_allowed_hosts_are_answered_with_auth_off(serve) -> None:
    api = serve("sqlite", allowed_hosts="chat.internal, 10.0.0.5:8000, [fd00::1]")
    body = {"user_id": "u-hosts"}
    assert _call(api, "/add_user", body, host="chat.internal:1234")["ok"] == 0
    assert _call(api, "/add_user", body, host="CHAT.internal")["ok"] == 0
    assert _call(api, "/add_user", body, host="10.0.0.5:8000")["ok"] == 0
    assert _call(api, "/add_user", body, host="[fd00::1]:80")["ok"] == 0
    assert _call(api, "/add_user", body, host="10.0.0.5:9000")["ok"] == 4  # another port
    assert _call(api, "/add_user", body, host="chat.internal.evil.example")["ok"] == 4
    # Its own origin on an allowed host is served; another site's is not.
    mine = {"host": "chat.internal:8000", "origin": "http://chat.internal:8000"}
    assert _call(api, "/add_user", body, **mine)["ok"] == 0
    # Behind a TLS proxy the app sees http, the page https: its own origin still.
    mine = {"host": "chat.internal", "origin": "https://chat.internal"}
    assert _call(api, "/add_user", body, **mine)["ok"] == 0
    other = {"host": "chat.internal", "origin": "https://evil.example"}
    assert _call(api, "/add_user", body, **other)["ok"] == 4


def test_with_auth_on_the_host_rule_is_off_and_the_origin_rule_holds(serve, wechat) -> None:
    api = serve("sqlite", **secure_settings(wechat, rate_limit_user=0, rate_limit_address=0))
    key = f"Bearer {SERVICE_KEY}"
    body = {"user_id": "u-auth-host"}
    assert _call(api, "/add_user", body, authorization=key, host="chat.example.com")["ok"] == 0
    response = api.http.get("/healthz", headers={"host": "chat.example.com"})
    assert response.json()["ok"] == 0
    evil = {"authorization": key, "origin": "https://evil.example"}
    assert _call(api, "/query_user_info", body, **evil)["ok"] == 4
    # The Origin answers before the credential (API.md §1).
    assert _call(api, "/query_user_info", body, origin="https://evil.example")["ok"] == 4
    assert _call(api, "/query_user_info", body)["ok"] == 3
