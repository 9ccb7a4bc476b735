"""The logs hold no secret and no personal data (OWASP API3, API8), on every store.

Canary strings go in as message text, title, meta, phone, email, profile field, WeChat code,
openid, token, service key, token secret, WeChat secret and session key, through every
endpoint and every WeChat failure; every log record of every logger the server writes to,
captured at DEBUG (the ``server_logs`` fixture), must hold none of them. User ids appear
only as a keyed hash.
"""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from huihua import logs
from huihua.access.credentials import Access

from .access import NONE, answer, send
from .conftest import SERVICE_KEY, TOKEN_SECRET
from .fake_wechat import SECRET, SESSION_KEY

if TYPE_CHECKING:
    from .conftest import Api, LogCapture
    from .fake_wechat import FakeWeChat


def test_no_canary_reaches_the_logs(secured: Api, server_logs: LogCapture) -> None:
    tag = uuid.uuid4().hex[:10]
    openid = f"oCANARYUSER{tag}"
    canaries = {
        "msg": f"CANARY-MSG-猫-{tag}",
        "title": f"CANARY-TITLE-{tag}",
        "meta": f"CANARY-META-{tag}",
        "phone": f"CANARY-PH-{tag}",
        "email": f"canary-email-{tag}@example.com",
        "profile": f"CANARY-PROFILE-{tag}",
        "code": f"CANARYCODE{tag}",
        "openid": openid,
        "forged token": f"CANARY-TOKEN-{tag}",
        "service key": SERVICE_KEY,
        "token secret": TOKEN_SECRET,
        "wechat secret": SECRET,
        "session key": SESSION_KEY,
    }
    login = send(secured, "/login", {"code": f"ok-{openid}~{canaries['code']}"}, NONE).json()
    assert login["ok"] == 0, login
    token = login["token"]
    canaries["token"] = token
    for kind in ("err-40029", "err-40125", "err--1", "slow", "huge", "redirect", "html"):
        code = f"{kind}~{canaries['code']}x{kind}" if "-" in kind else f"{kind}-{tag}"
        send(secured, "/login", {"code": code}, NONE)
    profile = {
        "user_id": openid,
        "user_name": "n",
        "phone": canaries["phone"],
        "email": canaries["email"],
        "note": canaries["profile"],
    }
    assert answer(send(secured, "/add_user", profile, SERVICE_KEY)) == 0
    assert answer(send(secured, "/add_user", profile, token)) == 4
    chat = {
        "role": "user",
        "msg": canaries["msg"],
        "session_title": canaries["title"],
        "meta": {"k": canaries["meta"]},
    }
    added = send(secured, "/add_chat", chat, token).json()
    assert added["ok"] == 0, added
    session = {"session_id": added["session_id"]}
    for path, body in (
        ("/query_user_info", {}),
        ("/query_session_names", {}),
        ("/query_session_info", session),
        ("/add_chat", chat | {"msg": canaries["msg"] + "\x00"}),  # ok 1
        ("/add_chat", chat | {"role": "ai"}),  # ok 4
        ("/query_user_info", {"user_id": "someone-else"}),  # ok 4
        ("/delete_specific_session", session),
        ("/delete_sessions", {}),
    ):
        send(secured, path, body, token)
    for credential in (canaries["forged token"], token + "x", NONE):
        send(secured, "/query_user_info", {"user_id": openid}, credential)
    send(secured, "/openapi.json", method="GET", credential=token)
    assert answer(send(secured, "/delete_user", {}, token)) == 0
    last = send(secured, "/query_user_info", {"user_id": openid}, token)  # a dead token: ok 3
    # Its access line is written just after its reply is sent, and after every earlier one.
    rid = last.json()["request_id"]
    server_logs.wait_for(f"request_id={rid} route=/query_user_info ok=3 status=401")

    text = server_logs.text
    for name, canary in canaries.items():
        assert canary not in text, f"the {name} reached the logs"
    assert "route=/add_chat ok=0 status=200" in text  # the lines were captured
    user_hash = Access(secured.settings, None, None).user_hash(openid)  # type: ignore[arg-type]
    assert f"who=user:{user_hash}" in text
    assert "errcode=40125" in text and "wechat: jscode2session failed: timed out" in text


def test_the_fake_wechat_writes_no_access_line(wechat: FakeWeChat) -> None:
    # uvicorn writes its access line on a connection opened while the process-wide
    # `uvicorn.access` has a handler; a test capture may add one, and the fake's URL holds
    # the code and the secret.
    access = logging.getLogger("uvicorn.access")
    heard: list[logging.LogRecord] = []
    listener = logging.Handler(logging.DEBUG)
    listener.emit = heard.append  # type: ignore[method-assign]
    saved_level = access.level
    access.addHandler(listener)
    access.setLevel(logging.DEBUG)
    try:
        with httpx.Client(base_url=wechat.base) as http:  # a new connection
            reply = http.get("/sns/jscode2session", params={"js_code": "err-40029~access"})
    finally:
        access.removeHandler(listener)
        access.setLevel(saved_level)
    assert reply.json()["errcode"] == 40125  # answered (no app id or secret given)
    assert heard == []  # written before the reply, if at all


def test_access_line_queued_directly_reads_as_its_record_would() -> None:
    stream = io.StringIO()
    handler = logs.BatchedStderrHandler(stream)
    handler.setFormatter(logs.Formatter())
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        access = logs.AccessLog("huihua.test_access")
        assert access._sole_handler() is handler  # the direct way is taken
        line = "request_id=r1 route=/add_chat ok=0 status=200 ms=1.2 who=open"
        access.info(line)
        logging.getLogger("huihua.test_access").info("%s", line)  # the way of a record
        handler.flush()
        direct, via_record = stream.getvalue().splitlines()
        stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
        assert re.fullmatch(stamp + " INFO huihua.test_access " + re.escape(line), direct)
        assert re.fullmatch(stamp + " INFO huihua.test_access " + re.escape(line), via_record)
        # Anyone else listening (a test's capture, another handler): records as usual.
        parent = logging.getLogger("huihua")
        listener = logging.NullHandler()
        parent.addHandler(listener)
        assert access._sole_handler() is None
        parent.removeHandler(listener)
        root.handlers.append(logging.NullHandler())
        assert access._sole_handler() is None
        root.setLevel(logging.WARNING)
        access.info(line)
        handler.flush()
        assert len(stream.getvalue().splitlines()) == 2
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        handler.close()


def test_access_lines_reach_a_capture(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="huihua.access")
    user_id = f"u-{uuid.uuid4().hex}"
    assert api.call("/add_user", user_id=user_id)["ok"] == 0
    deadline = time.monotonic() + 5
    while "route=/add_user ok=0" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)  # the access line is written just after the reply is sent
    assert "route=/add_user ok=0 status=200" in caplog.text


def test_stamp_reads_as_the_format_did() -> None:
    """Formatter.stamp's table of milliseconds gives the text its format gave."""
    formatter = logs.Formatter()
    for created in (0.0, 0.0005, 0.999, 1765000000.0, 1765000000.1234, 1765000000.9999999, -1.5):
        second = int(created)
        old = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        assert formatter.stamp(created) == f"{old},{int((created - second) * 1000):03d}"
