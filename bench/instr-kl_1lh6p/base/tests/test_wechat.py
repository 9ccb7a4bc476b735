"""/login against a fake WeChat on loopback (a real HTTP server), on every store.

Each WeChat answer — success, each error code, a timeout, a redirect, a huge body, not
JSON — gets its mapped reply within the timeout, and a failure stores nothing: no user, no
login record, and the same code goes to WeChat again when retried. A retried login with
the same code gets the same reply, from any server on the same database, without asking
WeChat twice (it accepts a code once).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import pytest

from huihua import timestamps
from huihua.service import login_code_hash

from .access import NONE, answer, code_for, new_openid, send, sql
from .conftest import secure_settings
from .fake_wechat import SESSION_KEY

if TYPE_CHECKING:
    from .conftest import Api, LogCapture
    from .fake_wechat import FakeWeChat

FAILURES = {
    "err--1": 8,  # WeChat busy
    "err-40029": 3,  # bad code
    "err-40163": 3,  # code already used
    "err-45011": 7,  # WeChat's own rate limit
    "err-40226": 4,  # a high-risk user WeChat blocks
    "err-40125": 9,  # our app secret refused: the operator's problem, logged
    "err-40013": 9,  # our app id refused
    "err-99999": 8,  # a code we do not know
    "slow": 8,  # past the timeout
    "redirect": 8,  # never followed
    "huge": 8,  # 8 MiB: never read whole
    "html": 8,  # not JSON
    "status500": 8,
    "noopenid": 8,
    "badopenid": 8,
    "array": 8,
    "strcode": 8,
}


def _login_records(api: Api, code: str) -> int:
    rows = sql(
        api, "SELECT count(*) FROM login_codes WHERE code_hash = :h", h=login_code_hash(code)
    )
    return rows[0][0]


@pytest.mark.parametrize("kind", FAILURES)
def test_each_wechat_failure_maps_in_time_and_stores_nothing(
    secured: Api, wechat: FakeWeChat, kind: str
) -> None:
    unique = uuid.uuid4().hex[:12]
    code = f"{kind}~{unique}" if "-" in kind else f"{kind}-{unique}"
    started = time.monotonic()
    reply = send(secured, "/login", {"code": code}, NONE)
    elapsed = time.monotonic() - started
    assert answer(reply) == FAILURES[kind], reply.text
    assert elapsed < secured.settings.wechat_timeout_ms / 1000 + 0.5, elapsed
    assert set(reply.json()) == {"request_id", "ok", "failed"}
    assert wechat.count(code) == 1
    assert _login_records(secured, code) == 0
    if kind in ("slow", "redirect", "huge"):
        openid = {"slow": "o" + unique, "redirect": "oRedirected"}
        gone = secured.call("/query_user_info", user_id=openid.get(kind, "oHuge"))
        assert gone["ok"] == 2, gone
    # nothing was kept: a retry asks WeChat again (which by now refuses the used code)
    again = send(secured, "/login", {"code": code}, NONE)
    assert answer(again) == 3
    assert wechat.count(code) == 2


def test_a_first_login_makes_the_user_and_a_retry_gets_the_same_reply(
    secured: Api, wechat: FakeWeChat
) -> None:
    openid = new_openid()
    code = code_for(openid)
    first = send(secured, "/login", {"code": code, "request_id": "login-1"}, NONE).json()
    assert first["ok"] == 0 and first["created"] is True and first["user_id"] == openid
    assert first["request_id"] == "login-1"
    again = send(secured, "/login", {"code": code, "request_id": "login-2"}, NONE).json()
    assert again == first | {"request_id": "login-2"}
    assert wechat.count(code) == 1
    info = secured.call("/query_user_info", user_id=openid)
    assert info["ok"] == 0 and info["user_name"] == "" and info["phone"] == ""
    assert SESSION_KEY not in str(first) and "unionid" not in first
    assert _login_records(secured, code) == 1
    later = send(secured, "/login", {"code": code_for(openid)}, NONE).json()
    assert later["ok"] == 0 and later["created"] is False


def test_twins_in_flight_make_one_exchange_and_get_one_reply(
    secured: Api, wechat: FakeWeChat
) -> None:
    code = code_for(new_openid())

    def one(_: int) -> dict:
        with httpx.Client(base_url=secured.base_url, timeout=30) as http:
            return http.post("/login", json={"code": code}).json()

    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(one, range(6)))
    assert all(r["ok"] == 0 for r in replies), replies
    assert len({(r["user_id"], r["token"], r["expires_at"], r["created"]) for r in replies}) == 1
    assert wechat.count(code) == 1


def test_the_same_reply_from_another_server_on_the_same_database(
    secured: Api, serve, wechat: FakeWeChat
) -> None:
    other = serve(
        secured.kind,
        migrated=False,
        database_url=secured.settings.database_url,
        **secure_settings(wechat, rate_limit_user=0, rate_limit_address=0),
    )
    code = code_for(new_openid())
    first = send(secured, "/login", {"code": code}, NONE).json()
    second = send(other, "/login", {"code": code}, NONE).json()
    assert first["ok"] == 0 and second == first | {"request_id": second["request_id"]}
    assert wechat.count(code) == 1
    token = first["token"]
    body = {"user_id": first["user_id"]}
    assert answer(send(other, "/query_user_info", body, token)) == 0


def test_after_five_minutes_a_code_goes_to_wechat_again(secured: Api, wechat: FakeWeChat) -> None:
    code = code_for(new_openid())
    assert send(secured, "/login", {"code": code}, NONE).json()["ok"] == 0
    sql(
        secured,
        "UPDATE login_codes SET claimed_at = claimed_at - 300001 WHERE code_hash = :h",
        h=login_code_hash(code),
    )
    assert answer(send(secured, "/login", {"code": code}, NONE)) == 3  # WeChat: used
    assert wechat.count(code) == 2
    assert _login_records(secured, code) == 0  # the expired record was purged


def test_a_claim_left_by_a_dead_server_is_taken_over(secured: Api, wechat: FakeWeChat) -> None:
    code = code_for(new_openid())
    stale = timestamps.now_ms() - 60_000
    sql(
        secured,
        "INSERT INTO login_codes (code_hash, claimed_at) VALUES (:h, :t)",
        h=login_code_hash(code),
        t=stale,
    )
    assert answer(send(secured, "/login", {"code": code}, NONE)) == 0
    assert wechat.count(code) == 1


def test_a_code_is_checked_like_any_field(secured: Api) -> None:
    for body, code in (
        ({}, 1),
        ({"code": ""}, 1),
        ({"code": 5}, 1),
        ({"code": "a\nb"}, 1),
        ({"code": "x" * 129}, 6),
        ({"code": "ok-x", "user_id": "x"}, 1),
    ):
        assert answer(send(secured, "/login", body, NONE)) == code, body


def test_a_refused_app_secret_is_ok_9_and_logged_without_it(
    serve, wechat: FakeWeChat, server_logs: LogCapture
) -> None:
    wrong = "WRONG-SECRET-" + "q" * 32
    api = serve("sqlite", **secure_settings(wechat, wechat_secret=wrong))
    reply = send(api, "/login", {"code": code_for(new_openid())}, NONE)
    assert answer(reply) == 9
    rid = reply.json()["request_id"]
    server_logs.wait_for(f"request_id={rid} route=/login ok=9")  # written after the reply
    assert "errcode=40125" in server_logs.text
    assert wrong not in server_logs.text


def test_a_user_from_before_tokens_gets_a_nonce_at_first_login(secured: Api) -> None:
    openid = new_openid()
    assert secured.call("/add_user", user_id=openid, user_name="old")["created"] is True
    sql(secured, "UPDATE users SET token_nonce = NULL WHERE user_id = :u", u=openid)
    reply = send(secured, "/login", {"code": code_for(openid)}, NONE).json()
    assert reply["ok"] == 0 and reply["created"] is False
    assert answer(send(secured, "/query_user_info", {"user_id": openid}, reply["token"])) == 0
