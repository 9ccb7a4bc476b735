"""Who may call what (API.md §6), tested as an attacker would, on every store.

The matrix: every endpoint × {no credential, forged token, expired token, user A's token on
user B's data, a user token on what only the back end may do, the service key}, each with
the exact ok it must answer (OWASP API1 object level and API5 function level authorization,
API2 broken authentication). Then the token's own rules: algorithm, audience, nonce, and
that a token dies with its user.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest

from huihua.access.tokens import AUDIENCE, Tokens

from .access import (
    NONE,
    answer,
    claims_of,
    code_for,
    expired_token,
    forged_token,
    login,
    new_openid,
    send,
    signed,
)
from .conftest import SERVICE_KEY, TOKEN_SECRET, secure_settings
from .helpers import ENDPOINTS, POST_PATHS, field_kinds

if TYPE_CHECKING:
    from .conftest import Api

PATHS = (*POST_PATHS, "GET /openapi.json", "GET /healthz")  # every endpoint of the table
CASES = ("no credential", "forged token", "expired token", "A on B", "backend only", "service")
_ALL = dict.fromkeys(PATHS, 0)
OPERATOR = dict.fromkeys((p for p in POST_PATHS if ENDPOINTS[p].operator), 4)  # §9
EXPECTED: dict[str, dict[str, int]] = {
    # /login needs no credential; /healthz never does.
    "no credential": dict.fromkeys(PATHS, 3) | {"/login": 0, "GET /healthz": 0},
    # A credential that is given is checked, on /login too.
    "forged token": dict.fromkeys(PATHS, 3) | {"GET /healthz": 0},
    "expired token": dict.fromkeys(PATHS, 3) | {"GET /healthz": 0},
    # A's token, B's user_id: forbidden (the API description is the back end's alone).
    "A on B": dict.fromkeys(PATHS, 4) | {"/login": 0, "GET /healthz": 0},
    # A's token on A's own data: fine, but never add_user, a message whose role is not
    # "user" (the examples of add_chats hold an ai placeholder), update_chat, the API doc or
    # the operator's routes.
    "backend only": _ALL
    | {"/add_user": 4, "/add_chat": 4, "/add_chats": 4, "/update_chat": 4, "GET /openapi.json": 4}
    | OPERATOR,
    "service": _ALL,
}


def _body(path: str, user_id: str, session_id: str, *, role: str = "user") -> Any:
    """Return the table's example request for ``path``, naming this user and session."""
    body = dict(ENDPOINTS[path].example)
    if path == "/login":
        return {"code": code_for(new_openid())}
    if "user_id" in body:
        body["user_id"] = user_id
    if "session_id" in field_kinds(path):
        body["session_id"] = session_id
    if "role" in body:
        body["role"] = role
    return body


def _user_with_session(api: Api) -> tuple[str, str, str]:
    """Return (user_id, token, session_id) of a user who logged in and has a session of two
    messages: "user" at seq 1, "ai" at seq 2 (the examples' update_chat and delete_chat)."""
    reply = login(api)
    user_id = reply["user_id"]
    turn = [{"role": "user", "msg": "hello"}, {"role": "ai", "msg": "hi"}]
    added = api.call("/add_chats", user_id=user_id, session_id="s1", chats=turn)
    assert added["ok"] == 0, added
    return user_id, reply["token"], "s1"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", PATHS)
def test_who_may_call_what(secured: Api, path: str, case: str) -> None:
    a, a_token, a_session = _user_with_session(secured)
    b, _, b_session = _user_with_session(secured)
    credential: Any = {
        "no credential": NONE,
        "forged token": forged_token(a),
        "expired token": expired_token(a_token),
        "A on B": a_token,
        "backend only": a_token,
        "service": SERVICE_KEY,
    }[case]
    owner, session = (a, a_session) if case == "backend only" else (b, b_session)
    role = "ai" if case in ("backend only", "service") else "user"
    if path.startswith("GET "):
        response = send(secured, path[4:], credential=credential, method="GET")
    else:
        body = _body(path, owner, session, role=role)
        if path == "/stop_reply":  # a reply still being written, to stop
            placeholder = [{"role": "ai", "msg": "", "status": "streaming"}]
            added = secured.call("/add_chats", user_id=owner, session_id=session, chats=placeholder)
            body["seq"] = added["seqs"][0]
        response = send(secured, path, body, credential)
    assert answer(response) == EXPECTED[case][path], response.text
    if EXPECTED[case][path] != 0 and path in POST_PATHS and "user_id" in field_kinds(path):
        # refused means untouched: the owner, their session and its two messages are there
        info = secured.call("/query_session_info", user_id=owner, session_id=session)
        msgs = [c["msg"] for c in info["chats"]]
        assert msgs == ["hello", "hi", *([""] if path == "/stop_reply" else [])], info
        assert [c.get("status") for c in info["chats"][2:]] in ([], ["streaming"]), info
        assert secured.call("/query_user_info", user_id=owner)["user_name"] == ""
    if path == "GET /healthz":
        assert set(response.json()) <= {
            *("request_id", "ok", "failed", "version", "store", "durable", "warnings")
        }


@pytest.mark.parametrize(
    "path", ("/query_user_info", "/add_chat", "/query_session_names", "/delete_sessions")
)
def test_a_user_token_works_on_its_own_data_and_fills_an_absent_user_id(
    secured: Api, path: str
) -> None:
    a, token, session = _user_with_session(secured)
    body = {k: v for k, v in _body(path, a, session).items() if k != "user_id"}
    reply = send(secured, path, body, token)
    assert answer(reply) == 0, reply.text
    if path == "/query_user_info":
        assert reply.json()["user_id"] == a
    if path == "/query_session_names":
        assert [s["session_id"] for s in reply.json()["sessions"]] == [session]
    if path == "/add_chat":
        assert reply.json()["seq"] == 3  # after the user message and the ai reply


def test_the_service_key_still_needs_a_user_id(secured: Api) -> None:
    reply = send(secured, "/query_session_names", {}, SERVICE_KEY)
    assert answer(reply) == 1 and reply.json()["failed"] == "user_id: is required"


@pytest.mark.parametrize(
    "header",
    (
        "",
        "Bearer",
        "Basic " + SERVICE_KEY,
        "Token " + SERVICE_KEY,
        SERVICE_KEY,
        "Bearer " + SERVICE_KEY + " extra",
        "Bearer " + SERVICE_KEY[:-1],
        "Bearer " + SERVICE_KEY + "x",
        "Bearer " + SERVICE_KEY.upper(),
        "Bearer " + "x" * 5000,
        "Bearer not.a.jwt",
        "Bearer e30.e30.e30",
    ),
)
def test_malformed_or_wrong_credentials_are_ok_3(secured: Api, header: str) -> None:
    user_id = secured.new_user()
    response = secured.post(
        "/query_user_info", {"user_id": user_id}, headers={"authorization": header}
    )
    assert answer(response) == 3, response.text


def test_two_authorization_headers_are_ok_3(secured: Api) -> None:
    user_id = secured.new_user()
    twice = [("authorization", f"Bearer {SERVICE_KEY}")] * 2
    response = httpx.post(
        secured.base_url + "/query_user_info", json={"user_id": user_id}, headers=twice
    )
    assert answer(response) == 3


def test_token_variants_an_attacker_would_try_are_ok_3(secured: Api) -> None:
    a, token, _ = _user_with_session(secured)
    claims = claims_of(token)
    now = int(time.time())
    variants = {
        "alg none": jwt.encode(claims, key=None, algorithm="none"),
        "alg none, no signature": token.rsplit(".", 1)[0] + ".",
        "wrong audience": signed(claims | {"aud": "someone-else"}),
        "no audience": signed({k: v for k, v in claims.items() if k != "aud"}),
        "no expiry": signed({k: v for k, v in claims.items() if k != "exp"}),
        "no subject": signed({k: v for k, v in claims.items() if k != "sub"}),
        "no nonce": signed({k: v for k, v in claims.items() if k != "tn"}),
        "wrong nonce": signed(claims | {"tn": "0" * 32}),
        "other user, own nonce": signed(claims | {"sub": secured.new_user()}),
        "not yet valid": signed(claims | {"nbf": now + 3600}),
        "signed with the service key": jwt.encode(claims, SERVICE_KEY, algorithm="HS256"),
        "signed with the raw secret": jwt.encode(claims, TOKEN_SECRET, algorithm="HS256"),
        "HS512": jwt.encode(claims, Tokens(TOKEN_SECRET)._key * 2, algorithm="HS512"),
        "tampered payload": _swap_payload(token, claims | {"sub": "someone"}),
        "expired": expired_token(token),
    }
    for name, forged in variants.items():
        reply = send(secured, "/query_user_info", {"user_id": a}, forged)
        assert answer(reply) == 3, (name, reply.text)
    assert answer(send(secured, "/query_user_info", {"user_id": a}, token)) == 0
    assert claims["aud"] == AUDIENCE


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{payload}.{signature}"


def test_the_error_order_with_auth_on(secured: Api) -> None:
    """API.md §1: size (6) and not-JSON (1) before the credential (3); the credential and
    then field errors (1) before another user's data (4); 4 before not found (2)."""
    a, token, _ = _user_with_session(secured)
    b = secured.new_user()
    big = {"user_id": a, "role": "user", "msg": "x" * 1_100_000}
    assert answer(send(secured, "/add_chat", big)) == 6
    bad_json = secured.http.build_request("POST", "/add_chat", content=b"{not json")
    bad_json.headers.pop("authorization")
    assert answer(secured.http.send(bad_json)) == 1
    assert answer(send(secured, "/add_chat", {"user_id": a, "role": "x"})) == 3
    wrong_field = {"user_id": b, "role": "user", "msg": 5}
    assert answer(send(secured, "/add_chat", wrong_field, token)) == 1
    long_msg = {"user_id": b, "role": "user", "msg": "x" * 70_000}
    assert answer(send(secured, "/add_chat", long_msg, token)) == 6
    other_missing = {"user_id": b, "session_id": "nope"}
    assert answer(send(secured, "/query_session_info", other_missing, token)) == 4
    own_missing = {"user_id": a, "session_id": "nope"}
    assert answer(send(secured, "/query_session_info", own_missing, token)) == 2


def test_a_token_dies_with_its_user_and_stays_dead(secured: Api) -> None:
    openid = new_openid()
    first = login(secured, openid)
    assert first["created"] is True
    old = first["token"]
    assert answer(send(secured, "/query_user_info", {"user_id": openid}, old)) == 0
    reply = send(secured, "/delete_user", {"user_id": openid}, SERVICE_KEY)
    assert answer(reply) == 0
    assert answer(send(secured, "/query_user_info", {"user_id": openid}, old)) == 3
    again = login(secured, openid)  # the same openid comes back: a new row, a new nonce
    assert again["created"] is True
    assert answer(send(secured, "/query_user_info", {"user_id": openid}, again["token"])) == 0
    assert answer(send(secured, "/query_user_info", {"user_id": openid}, old)) == 3
    # add_user re-creating a deleted user does not revive old tokens either
    assert answer(send(secured, "/delete_user", {"user_id": openid}, again["token"])) == 0
    assert secured.call("/add_user", user_id=openid, user_name="back")["created"] is True
    assert answer(send(secured, "/query_user_info", {"user_id": openid}, again["token"])) == 3


def test_a_second_login_keeps_the_other_devices_tokens(secured: Api) -> None:
    openid = new_openid()
    phone = login(secured, openid)
    tablet = login(secured, openid)
    assert tablet["created"] is False
    for token in (phone["token"], tablet["token"]):
        assert answer(send(secured, "/query_user_info", {"user_id": openid}, token)) == 0


def test_login_reply_and_token(secured: Api) -> None:
    before = int(time.time())
    reply = login(secured)
    assert set(reply) == {"request_id", "ok", "failed", "user_id", "token", "expires_at", "created"}
    claims = claims_of(reply["token"])
    assert claims["sub"] == reply["user_id"] and claims["aud"] == AUDIENCE
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == secured.settings.token_ttl
    assert jwt.get_unverified_header(reply["token"])["alg"] == "HS256"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(claims["exp"])) + ".000Z"
    assert reply["expires_at"] == stamp


def test_every_reply_says_no_store_and_no_cors_by_default(secured: Api) -> None:
    origin = {"origin": "https://evil.example"}
    for response in (
        send(secured, "/query_user_info", {"user_id": "x"}, headers=origin),
        send(secured, "/query_user_info", {"user_id": "x"}, NONE, headers=origin),
        send(secured, "/nope", {}, headers=origin),
        send(secured, "/healthz", method="GET", headers=origin),
        send(secured, "/openapi.json", method="GET", headers=origin),
        send(secured, "/add_chat", method="GET", headers=origin),
    ):
        assert response.headers["cache-control"] == "no-store"
        assert not any(k.startswith("access-control-") for k in response.headers), response.headers
    preflight = secured.http.options(
        "/add_chat", headers=origin | {"access-control-request-method": "POST"}
    )
    assert not any(k.startswith("access-control-") for k in preflight.headers)


def test_cors_only_for_the_configured_origins(serve, wechat) -> None:
    allowed = "https://admin.example"
    api = serve("sqlite", **secure_settings(wechat, cors_origins=allowed))
    reply = send(api, "/healthz", method="GET", headers={"origin": allowed})
    assert reply.headers["access-control-allow-origin"] == allowed
    other = send(api, "/healthz", method="GET", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = api.http.options(
        "/add_chat", headers={"origin": allowed, "access-control-request-method": "POST"}
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


def test_auth_off_as_before_and_login_absent_without_wechat(serve, store_kind: str) -> None:
    api = serve(store_kind)  # no WeChat credentials, no token secret
    user_id = api.new_user()
    assert api.call("/query_user_info", user_id=user_id)["ok"] == 0
    assert api.call("/login", code="ok-x")["ok"] == 2
    assert api.http.get("/openapi.json").status_code == 200


def test_a_service_key_alone_serves_the_back_end(serve) -> None:
    api = serve("sqlite", service_key=SERVICE_KEY)
    api.http.headers["authorization"] = f"Bearer {SERVICE_KEY}"
    user_id = api.new_user()
    assert api.call("/query_user_info", user_id=user_id)["ok"] == 0
    token = forged_token(user_id)
    assert answer(send(api, "/query_user_info", {"user_id": user_id}, token)) == 3
    assert answer(send(api, "/login", {"code": "ok-x"}, NONE)) == 2


def test_request_ids_are_echoed_on_auth_failures(secured: Api) -> None:
    rid = f"r-{uuid.uuid4().hex}"
    reply = send(secured, "/query_user_info", {"request_id": rid, "user_id": "x"}, NONE)
    assert reply.json()["request_id"] == rid and reply.json()["ok"] == 3
