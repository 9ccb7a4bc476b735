"""What one call of huihua.client does with each answer (huihua.client.calls), as plain
functions: no server needed to say which replies are sent again and which raise."""

from __future__ import annotations

import httpx
import pytest

from huihua import errors
from huihua.client.calls import Call, Done, NoReply, Policy, Retry
from huihua.client.endpoints import BY_NAME
from huihua.wire.replies import AddChatReply

POLICY = Policy(retries=2, backoff=0.1, max_backoff=1.0)


def _call(name: str = "add_chat", **fields: object) -> Call:
    return Call(BY_NAME[name], {"user_id": "u", **fields}, POLICY)


def _envelope(ok: int, rid: str = "r") -> bytes:
    return b'{"request_id":"%s","ok":%d,"failed":"why"}' % (rid.encode(), ok)


def test_ok_0_is_the_typed_reply() -> None:
    body = b'{"request_id":"r","ok":0,"failed":"","session_id":"s","seq":3,"created_at":"t"}'
    outcome = _call().answered(200, httpx.Headers(), body)
    assert isinstance(outcome, Done) and isinstance(outcome.reply, AddChatReply)
    assert outcome.reply.seq == 3


def test_ok_7_waits_retry_after_and_ok_8_backs_off_until_the_tries_are_spent() -> None:
    call = _call()
    assert call.answered(429, httpx.Headers({"retry-after": "3"}), _envelope(7)) == Retry(3.0)
    wait = call.answered(503, httpx.Headers(), _envelope(8))
    assert isinstance(wait, Retry) and 0.05 <= wait.delay <= 0.2
    with pytest.raises(errors.StorageUnavailable) as raised:
        call.answered(503, httpx.Headers(), _envelope(8))
    assert (raised.value.ok, raised.value.status, raised.value.request_id) == (
        8,
        503,
        call.request_id,
    )


def test_a_proxys_error_page_is_retried_then_no_reply() -> None:
    call = _call()
    assert isinstance(call.answered(502, httpx.Headers(), b"<html>bad gateway</html>"), Retry)
    assert isinstance(call.lost(httpx.ReadTimeout("slow")), Retry)
    with pytest.raises(NoReply) as raised:
        call.answered(504, httpx.Headers(), b"<html>timeout</html>")
    assert raised.value.status == 504


def test_other_codes_raise_at_once_with_their_class() -> None:
    for ok, cls in ((1, errors.InvalidRequest), (4, errors.Forbidden), (11, errors.NotApplicable)):
        with pytest.raises(cls):
            _call().answered(400, httpx.Headers(), _envelope(ok))


def test_one_request_id_for_every_try_of_a_call() -> None:
    call = _call(request_id="mine")
    assert call.request_id == "mine" and b'"request_id":"mine"' in call.body
    assert _call().request_id != _call().request_id


def test_delete_user_ok_2_is_done_only_on_a_retry() -> None:
    first = _call("delete_user")
    with pytest.raises(errors.NotFound):
        first.answered(404, httpx.Headers(), _envelope(2))
    retried = _call("delete_user")
    retried.lost(httpx.ReadError("reset"))
    outcome = retried.answered(404, httpx.Headers(), _envelope(2))
    assert isinstance(outcome, Done) and outcome.reply.ok == 0
