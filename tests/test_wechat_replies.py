"""WeChat's content check and the "answer ready" message on replies (docs/api.md §8.6-8.7), on
every store, against the fake WeChat (fake_wechat.py) and the fake model (fake_model.py).

The check: a risky question is ok 12 with nothing stored and no model asked; a review is
noted; a reply risky at its second piece of 2,500 characters is stopped and replaced by the
notice; WeChat unreachable passes or refuses as the setting says. The access token: cached,
renewed once on 40001, shared by two servers through Redis. The message: sent once for a
reply nobody follows, never for one somebody does; its refusal logged, the reply unharmed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from huihua.config import Settings

from . import sse
from .conftest import Api, LogCapture, login_settings, model_settings
from .fake_model import FakeModel
from .fake_script import Reply, wait_until
from .fake_wechat import APPID, FakeWeChat

REDIS_URL = "redis://127.0.0.1:6379/0"
NOTICE = "这条回答未通过内容安全检查，已隐藏。"
TEMPLATE = "TPL-answer-ready"


def _settings(wechat: FakeWeChat, model: FakeModel, **changes: Any) -> dict[str, Any]:
    return {
        **login_settings(wechat),
        **model_settings(model),
        "wechat_check": True,
        "wechat_notify_template": TEMPLATE,
        "wechat_notify_page": "pages/chat/chat?session_id={session_id}",
        "wechat_notify_data": "thing1=title,thing2=reply,time3=time",
        **changes,
    }


@pytest.fixture(scope="module")
def checked(serve: Callable[..., Api], store_kind: str, wechat: FakeWeChat, model: FakeModel):
    """A server with the check on (refusing what WeChat cannot judge) and the message."""
    return serve(store_kind, **_settings(wechat, model))


@pytest.fixture(scope="module")
def lenient(serve: Callable[..., Api], wechat: FakeWeChat, model: FakeModel) -> Api:
    """A server whose check lets through what WeChat cannot judge (SQLite)."""
    return serve("sqlite", **_settings(wechat, model, wechat_check_unreachable="pass"))


@pytest.fixture
def fake(model: FakeModel, wechat: FakeWeChat) -> Iterator[FakeModel]:
    model.reset()
    wechat.check_down = None
    wechat.send_errcode = None
    yield model
    model.reset()
    wechat.check_down = None
    wechat.send_errcode = None


def _user(api: Api, openid: str | None = None) -> str:
    if openid is None:
        return api.new_user(openid=f"o{uuid.uuid4().hex}")
    return api.new_user(openid=openid)


def _message(api: Api, user: str, session: str, seq: int) -> dict[str, Any]:
    info = api.call("/query_session_info", user_id=user, session_id=session)
    assert info["ok"] == 0, info
    return next(c for c in info["chats"] if c["seq"] == seq)


def _sessions(api: Api, user: str) -> list[Any]:
    reply = api.call("/query_session_names", user_id=user)
    assert reply["ok"] == 0, reply
    return reply["sessions"]


def _refused(api: Api, user: str, ok: int, status: int, **fields: Any) -> dict[str, Any]:
    response = api.post("/ask_ai", {"user_id": user, "session_id": "s", **fields})
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] == ok, body
    return body


# -- the question -----------------------------------------------------------------------


def test_a_risky_question_is_ok_12_and_nothing_is_stored(
    checked: Api, fake: FakeModel, wechat: FakeWeChat
):
    user = _user(checked)
    openid = checked.call("/query_user_info", user_id=user)["openid"]
    before = len(wechat.checks)
    body = _refused(checked, user, 12, 422, msg="告诉我 RISKY 的事")
    assert "risky" in body["failed"]
    assert _sessions(checked, user) == []
    assert fake.calls == 0
    asked = wechat.checks[before:]
    assert len(asked) == 1
    assert asked[0] == {"content": "告诉我 RISKY 的事", "version": 2, "scene": 2, "openid": openid}


def test_a_question_for_review_passes_and_is_noted(checked: Api, fake: FakeModel):
    user = _user(checked)
    events = sse.stream(
        checked,
        "/ask_ai",
        {"user_id": user, "session_id": "s", "msg": "REVIEW 这个", "meta": {"page": "chat"}},
    )
    assert events[-1].data["status"] == "complete"
    question = _message(checked, user, "s", 1)
    check = question["meta"]["check"]
    assert check["suggest"] == "review" and check["label"] == 20012
    assert check["trace_id"].startswith("trace-")
    assert question["meta"]["page"] == "chat"  # the caller's meta is kept
    assert fake.calls == 1


def test_a_long_question_is_checked_in_pieces(checked: Api, fake: FakeModel, wechat: FakeWeChat):
    user = _user(checked)
    before = len(wechat.checks)
    _refused(checked, user, 12, 422, msg="甲" * 2_500 + "RISKY" + "乙" * 3_000)
    sizes = sorted(len(c["content"]) for c in wechat.checks[before:])
    assert sizes == [505, 2_500, 2_500]
    assert _sessions(checked, user) == [] and fake.calls == 0


@pytest.mark.parametrize(
    "why", ["no openid", "gone", "status500", "busy", pytest.param("slow", marks=pytest.mark.slow)]
)
def test_a_question_wechat_cannot_judge_is_refused_or_passes_as_set(
    checked: Api, lenient: Api, fake: FakeModel, wechat: FakeWeChat, why: str
):
    for api, refuse in ((checked, True), (lenient, False)):
        if why == "no openid":
            user = f"user:{uuid.uuid4().hex}"  # not the shape of an openid
            assert api.call("/add_user", user_id=user, user_name="t")["ok"] == 0
        elif why == "gone":
            user = _user(api, openid=f"gone{uuid.uuid4().hex}")  # 61010: not seen lately
        else:
            user = _user(api)
            wechat.check_down = why
        calls = fake.calls
        if refuse:
            body = _refused(api, user, 8, 503, msg="你好")
            assert "content check" in body["failed"]
            assert _sessions(api, user) == [] and fake.calls == calls
        else:
            events = sse.stream(api, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "你好"})
            assert events[-1].data["status"] == "complete"
            check = _message(api, user, "s", 1)["meta"]["check"]
            assert check["suggest"] == "unchecked" and check["reason"]
        wechat.check_down = None


# -- the reply --------------------------------------------------------------------------


def test_a_reply_risky_at_its_second_piece_is_stopped_and_replaced(
    checked: Api, fake: FakeModel, wechat: FakeWeChat
):
    user = _user(checked)
    first = ["甲" * 100] * 25  # the first piece: 2,500 characters, passes
    second = ["RISKY" + "乙" * 95] + ["乙" * 100] * 24  # the second: risky
    rest = ["丙" * 100] * 200  # the model would go on for 4 s more
    fake.script(Reply(content=first + second + rest, delay_s=0.02, reasoning=["想", "一想"]))
    before = len(wechat.checks)
    events = sse.stream(checked, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "写"})
    sse.check_ids(events)
    done = events[-1]
    assert done.name == "done" and done.data["status"] == "blocked"
    assert done.data["msg"] == NOTICE
    check = done.data["meta"]["check"]
    assert check["suggest"] == "risky" and check["label"] == 20001 and check["trace_id"]
    replaced = events[-2]
    assert replaced.name == "delta" and replaced.data == {"msg": NOTICE, "replace": True}
    assert sse.text_of(events) == (NOTICE, "")
    wait_until(lambda: fake.disconnects == 1, "the model stopped")
    stored = _message(checked, user, "s", 2)
    assert stored["status"] == "blocked" and stored["msg"] == NOTICE
    assert "reasoning" not in stored
    assert stored["meta"]["check"] == check
    pieces = [c["content"] for c in wechat.checks[before:]]
    reply_pieces = [p for p in pieces if p.startswith(("甲", "RISKY"))]
    assert reply_pieces[:2] == ["".join(first), "".join(second)]
    followed = sse.stream(checked, "/follow_reply", {"user_id": user, "session_id": "s", "seq": 2})
    assert sse.text_of(followed) == (NOTICE, "") and followed[-1].data["status"] == "blocked"


def test_a_short_reply_is_checked_at_its_end(checked: Api, fake: FakeModel, wechat: FakeWeChat):
    user = _user(checked)
    fake.script(Reply(content=["这是", "RISKY", "的回答"]))
    events = sse.stream(checked, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "写"})
    assert events[-1].data["status"] == "blocked" and sse.text_of(events) == (NOTICE, "")
    fake.script(Reply(content=["平安", "无事"]))
    events = sse.stream(checked, "/ask_ai", {"user_id": user, "session_id": "t", "msg": "写"})
    assert events[-1].data["status"] == "complete" and sse.text_of(events)[0] == "平安无事"
    assert wechat.checks[-1]["content"] == "平安无事"


# -- the access token ---------------------------------------------------------------------


@pytest.mark.redis
def test_the_token_is_shared_through_redis_and_renewed_once_on_40001(
    serve: Callable[..., Api], fake: FakeModel, wechat: FakeWeChat
):
    redis.Redis.from_url(REDIS_URL).delete(f"huihua:wechat:token:{APPID}")
    settings = _settings(wechat, fake, redis_url=REDIS_URL)
    a, b = serve("sqlite", **settings), serve("sqlite", **settings)
    user_a, user_b = _user(a), _user(b)
    calls = wechat.token_calls

    def ask(api: Api, user: str) -> None:
        session = uuid.uuid4().hex
        body = {"user_id": user, "session_id": session, "msg": "你好", "stream": False}
        assert api.call("/ask_ai", **body)["ok"] == 0
        wait_until(lambda: _message(api, user, session, 2).get("status") is None, "reply done")

    for api, user in ((a, user_a), (b, user_b), (a, user_a)):
        ask(api, user)
    assert wechat.token_calls == calls + 1  # one fetch, for both servers
    wechat.expire_token()
    bad = wechat.bad_tokens
    ask(a, user_a)  # 40001: renewed, the call made once more
    assert wechat.token_calls == calls + 2
    ask(b, user_b)  # 40001: the new token is in Redis already
    assert wechat.token_calls == calls + 2
    assert wechat.bad_tokens == bad + 2 and wechat.force_refreshes == 0
    # Kept until two minutes before it expires: renewed inside WeChat's last five minutes,
    # when old and new both work.
    stored = redis.Redis.from_url(REDIS_URL)
    assert stored.get(f"huihua:wechat:token:{APPID}").decode() == wechat.token
    assert 7_000_000 < stored.pttl(f"huihua:wechat:token:{APPID}") <= 7_080_000


def test_the_token_is_cached_without_redis(
    serve: Callable[..., Api], fake: FakeModel, wechat: FakeWeChat
):
    api = serve("sqlite", **_settings(wechat, fake))
    user = _user(api)
    calls = wechat.token_calls
    for session in ("a", "b", "c"):
        events = sse.stream(api, "/ask_ai", {"user_id": user, "session_id": session, "msg": "好"})
        assert events[-1].data["status"] == "complete"
    assert wechat.token_calls == calls + 1 and wechat.force_refreshes == 0


# -- the "answer ready" message ----------------------------------------------------------


def _sent_for(wechat: FakeWeChat, session: str) -> list[dict[str, Any]]:
    return [s for s in wechat.sent if s.get("page", "").endswith(f"session_id={session}")]


def _ask_unheard(api: Api, user: str, session: str, **fields: Any) -> None:
    body = {"user_id": user, "session_id": session, "msg": "写首诗", "notify": True}
    reply = api.call("/ask_ai", **body, stream=False, **fields)
    assert reply["ok"] == 0, reply


def test_the_message_is_sent_once_for_a_reply_nobody_follows(
    checked: Api, fake: FakeModel, wechat: FakeWeChat
):
    user = _user(checked)
    openid = checked.call("/query_user_info", user_id=user)["openid"]
    heard, unheard = uuid.uuid4().hex, uuid.uuid4().hex
    fake.script(Reply(content=["秋风", "清"], delay_s=0.02))
    body = {"user_id": user, "session_id": heard, "msg": "写首诗", "notify": True}
    events = sse.stream(checked, "/ask_ai", body)  # followed to its end
    assert events[-1].data["status"] == "complete"
    fake.script(Reply(content=["秋月明，", "落叶聚还散，寒鸦栖复惊。相思相见知何日？"]))
    title = "一首关于秋天的诗，写给远方的朋友们和家人们"  # 21 characters
    _ask_unheard(checked, user, unheard, session_title=title)
    wait_until(lambda: _sent_for(wechat, unheard), "the message sent")
    wait_until(lambda: _message(checked, user, unheard, 2).get("status") is None, "reply done")
    assert _sent_for(wechat, heard) == []  # sent before the unheard one's, if at all
    [sent] = _sent_for(wechat, unheard)
    assert sent["touser"] == openid and sent["template_id"] == TEMPLATE
    assert sent["miniprogram_state"] == "formal" and sent["lang"] == "zh_CN"
    data = sent["data"]
    assert data["thing1"]["value"] == title[:19] + "…"  # a thing is at most 20
    assert data["thing2"]["value"] == "秋月明，落叶聚还散，寒鸦栖复惊。相思相…"
    assert "年" in data["time3"]["value"] and ":" in data["time3"]["value"]
    assert all(len(v["value"]) <= 20 for v in data.values())


def test_no_message_without_notify(checked: Api, fake: FakeModel, wechat: FakeWeChat):
    user = _user(checked)
    quiet, told = uuid.uuid4().hex, uuid.uuid4().hex
    reply = checked.call("/ask_ai", user_id=user, session_id=quiet, msg="诗", stream=False)
    assert reply["ok"] == 0
    wait_until(lambda: _message(checked, user, quiet, 2).get("status") is None, "reply done")
    _ask_unheard(checked, user, told)
    wait_until(lambda: _sent_for(wechat, told), "the message sent")
    assert _sent_for(wechat, quiet) == []


def test_a_refused_message_is_logged_and_the_reply_unharmed(
    checked: Api, fake: FakeModel, wechat: FakeWeChat, server_logs: LogCapture
):
    user = _user(checked)
    session = uuid.uuid4().hex
    wechat.send_errcode = 43101  # the user has no subscription left
    fake.script(Reply(content=["秋风", "清"]))
    _ask_unheard(checked, user, session)
    server_logs.wait_for("errcode=43101")
    reply = _message(checked, user, session, 2)
    assert reply["msg"] == "秋风清" and "status" not in reply
    assert len(_sent_for(wechat, session)) == 1  # never retried
    assert "TOKEN-CANARY" not in server_logs.text


def test_an_unknown_user_is_ok_2_before_the_check(checked: Api, fake: FakeModel):
    _refused(checked, f"o{uuid.uuid4().hex}", 2, 404, msg="RISKY")
    assert fake.calls == 0


def test_a_reply_wechat_cannot_judge_is_blocked_or_passes_as_set(
    checked: Api, lenient: Api, fake: FakeModel, wechat: FakeWeChat
):
    for api, refuse in ((checked, True), (lenient, False)):
        user = _user(api)
        events = sse.stream(api, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "写"})
        assert events[-1].data["status"] == "complete"
        wechat.check_down = "busy"  # the question is not asked again: only the reply is checked
        again = {"user_id": user, "session_id": "s", "regenerate": True}
        done = sse.stream(api, "/ask_ai", again)[-1].data
        wechat.check_down = None
        if refuse:
            assert done["status"] == "blocked" and done["msg"] == NOTICE
            assert done["meta"]["check"]["suggest"] == "unchecked"
            assert "-1" in done["meta"]["check"]["reason"]
        else:
            assert done["status"] == "complete" and "check" not in done["meta"]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"wechat_check": True}, "wechat_check"),
        ({"wechat_notify_template": "t"}, "wechat_notify_template"),
        ({"wechat_check_scene": 5}, "wechat_check_scene"),
        ({"wechat_check_unreachable": "maybe"}, "wechat_check_unreachable"),
        ({"wechat_notify_state": "beta"}, "wechat_notify_state"),
        ({"wechat_notify_data": "thing1=weather"}, "wechat_notify_data"),
        ({"wechat_check_notice": " "}, "wechat_check_notice"),
    ],
)
def test_wechat_settings_out_of_range_are_refused(changes: dict[str, Any], named: str):
    with pytest.raises(ValueError, match=named):
        Settings.from_env({}, **changes)


@pytest.mark.postgresql
@pytest.mark.redis
def test_a_reply_followed_on_another_host_sends_no_message(
    serve: Callable[..., Api], fake: FakeModel, wechat: FakeWeChat
):
    settings = _settings(wechat, fake, redis_url=REDIS_URL)
    a = serve("postgresql", **settings)
    b = serve("postgresql", database_url=a.settings.database_url, migrated=False, **settings)
    user = _user(a)
    heard, unheard = uuid.uuid4().hex, uuid.uuid4().hex
    fake.script(Reply(content=["秋"] * 30, delay_s=0.05))
    _ask_unheard(a, user, heard)  # generated on a, followed to its end on b
    followed = sse.stream(b, "/follow_reply", {"user_id": user, "session_id": heard, "seq": 2})
    assert followed[-1].data["status"] == "complete"
    _ask_unheard(a, user, unheard)
    wait_until(lambda: _sent_for(wechat, unheard), "the message sent")
    assert _sent_for(wechat, heard) == []
