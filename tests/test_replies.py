"""Replies huihua asks a model for (API.md §8.1–8.5), on every store, against the fake model
(fake_model.py, a real HTTP server whose streams the official ``openai`` package parses).

Each test scripts what the model answers, asks through HTTP, and checks the events, the
stored reply and what the model was sent.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from . import sse
from .access import login, send, sql
from .conftest import MODEL_KEY, Api, model_settings, secure_settings
from .fake_model import FakeModel
from .fake_script import Fail, Hang, Reply, chinese_pieces, wait_until
from .fake_wechat import FakeWeChat


@pytest.fixture
def fake(model: FakeModel) -> Iterator[FakeModel]:
    """The fake model, quiet: nothing queued, the default reply, no records."""
    model.reset()
    yield model
    model.reset()


@pytest.fixture(scope="module")
def quick(serve: Callable[..., Api], store_kind: str, model: FakeModel) -> Api:
    """A server whose model gives up fast: 1 s to the first token and between chunks, a
    retry budget of 2 s, and a daily quota of 40 tokens."""
    return serve(
        store_kind,
        **model_settings(
            model,
            llm_first_token_timeout=1,
            llm_idle_timeout=1,
            llm_retry_budget=2,
            llm_daily_tokens=40,
        ),
    )


def ask(api: Api, user: str, **fields: Any) -> list[sse.Event]:
    return sse.stream(api, "/ask_ai", {"user_id": user, **fields})


def message(api: Api, user: str, session: str, seq: int) -> dict[str, Any]:
    info = api.call("/query_session_info", user_id=user, session_id=session)
    assert info["ok"] == 0, info
    return next(c for c in info["chats"] if c["seq"] == seq)


def slow(n: int = 40, delay_s: float = 0.05) -> Reply:
    return Reply(content=chinese_pieces(n), delay_s=delay_s)


def test_a_reply_streams_and_is_stored_as_its_events_say(api: Api, user: str, fake: FakeModel):
    fake.script(
        Reply(
            content=["秋风", "清，", "秋月", "明"],
            reasoning=["用户", "想要", "一首诗"],
            delay_s=0.02,
            prompt_tokens=31,
            completion_tokens=9,
        )
    )
    rid = f"ask-{uuid.uuid4().hex}"
    events = ask(api, user, session_id="s1", msg="写一句秋天的诗", request_id=rid)
    sse.check_ids(events)
    assert events[0].name == "start" and events[-1].name == "done"
    assert {e.name for e in events[1:-1]} == {"delta"}
    start = events[0].data
    assert start == {
        "request_id": rid,
        "ok": 0,
        "failed": "",
        "session_id": "s1",
        "seqs": [1, 2],
        "created_at": start["created_at"],
    }
    assert sse.text_of(events) == ("秋风清，秋月明", "用户想要一首诗")
    meta = {
        "model": "fake-chat",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 31, "completion_tokens": 9, "estimated": False},
    }
    assert events[-1].data == {"seq": 2, "status": "complete", "failed": "", "meta": meta}
    reply = message(api, user, "s1", 2)
    assert (reply["role"], reply["msg"], reply["reasoning"]) == (
        "ai",
        "秋风清，秋月明",
        "用户想要一首诗",
    )
    assert reply["meta"] == meta and "status" not in reply  # complete: the default, left out
    question = message(api, user, "s1", 1)
    assert (question["role"], question["msg"]) == ("user", "写一句秋天的诗")
    sent = fake.requests[-1]
    assert sent["model"] == "fake-chat" and sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == [{"role": "user", "content": "写一句秋天的诗"}]
    assert fake.keys[-1] == MODEL_KEY


def test_usage_is_estimated_when_the_stream_has_none(api: Api, user: str, fake: FakeModel):
    fake.script(Reply(content=["你好", "，世界"], send_usage=False))
    events = ask(api, user, msg="hi", model="fake-reasoner")
    usage = events[-1].data["meta"]["usage"]
    assert usage["estimated"] is True and usage["completion_tokens"] > 0
    assert events[-1].data["meta"]["model"] == "fake-reasoner"
    assert fake.requests[-1]["model"] == "fake-reasoner"


def test_a_listener_that_drops_follows_from_its_last_event(api: Api, user: str, fake: FakeModel):
    pieces = chinese_pieces(30)
    fake.script(Reply(content=pieces, delay_s=0.06))
    first = sse.first_events(api, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "诗"}, 4)
    assert [e.name for e in first] == ["start", "delta", "delta", "delta"]
    after = first[-1].id
    rest = sse.stream(
        api, "/follow_reply", {"user_id": user, "session_id": "s", "seq": 2, "after": after}
    )
    sse.check_ids(rest, after + 1)
    assert rest[-1].name == "done" and rest[-1].data["status"] == "complete"
    assert sse.text_of(first + rest)[0] == "".join(pieces)
    assert message(api, user, "s", 2)["msg"] == "".join(pieces)
    assert fake.calls == 1


def test_two_listeners_get_the_same_events(api: Api, user: str, fake: FakeModel):
    fake.script(slow(20, 0.05))
    got: dict[str, list[sse.Event]] = {}
    asking = threading.Thread(
        target=lambda: got.setdefault("ask", ask(api, user, session_id="s", msg="诗"))
    )
    asking.start()
    wait_until(lambda: fake.calls == 1, "the model is asked")
    follow = {"user_id": user, "session_id": "s", "seq": 2}
    got["follow"] = sse.stream(api, "/follow_reply", follow)
    asking.join(timeout=30)
    assert got["ask"] == got["follow"]
    assert got["ask"][-1].data["status"] == "complete"


def test_a_stop_keeps_the_text_cancelled_and_stops_the_model(api: Api, user: str, fake: FakeModel):
    fake.script(slow(60, 0.05))
    first = sse.first_events(api, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "诗"}, 3)
    stopped = api.call("/stop_reply", user_id=user, session_id="s", seq=2)
    assert stopped == {**stopped, "ok": 0, "seq": 2, "status": "cancelled"}
    wait_until(lambda: fake.disconnects >= 1, "the model's stream is closed")
    events = sse.stream(api, "/follow_reply", {"user_id": user, "session_id": "s", "seq": 2})
    assert events[0].data == first[0].data  # the same start
    assert events[-1].data["status"] == "cancelled" and events[-1].data["failed"] == ""
    msg = sse.text_of(events)[0]
    assert msg and "".join(chinese_pieces(60)).startswith(msg)
    reply = message(api, user, "s", 2)
    assert reply["status"] == "cancelled" and reply["msg"] == msg
    again = api.post("/stop_reply", {"user_id": user, "session_id": "s", "seq": 2})
    assert (again.status_code, again.json()["ok"]) == (409, 11)


def test_a_retried_ask_asks_the_model_once(api: Api, user: str, fake: FakeModel):
    fake.script(slow(20, 0.03))
    body = {"user_id": user, "session_id": "s", "msg": "诗", "request_id": f"r-{uuid.uuid4()}"}
    sse.first_events(api, "/ask_ai", body, 2)  # the connection drops mid-reply
    retry = sse.stream(api, "/ask_ai", body)
    assert retry[0].data["seqs"] == [1, 2] and retry[-1].data["status"] == "complete"
    again = sse.stream(api, "/ask_ai", body)  # after done: the same reply again
    assert again[0].data == retry[0].data and sse.text_of(again) == sse.text_of(retry)
    assert fake.calls == 1
    info = api.call("/query_session_info", user_id=user, session_id="s")
    assert [c["seq"] for c in info["chats"]] == [1, 2]
    other = api.post("/ask_ai", {**body, "msg": "别的"})  # the id with another question
    assert (other.status_code, other.json()["ok"]) == (409, 5)


def test_one_reply_at_a_time_a_session(api: Api, user: str, fake: FakeModel):
    fake.script(slow(60, 0.05))
    sse.first_events(api, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "诗"}, 2)
    second = api.post("/ask_ai", {"user_id": user, "session_id": "s", "msg": "再来"})
    assert (second.status_code, second.json()["ok"]) == (409, 11), second.text
    assert "session_id:" in second.json()["failed"]
    elsewhere = api.call("/ask_ai", user_id=user, session_id="t", msg="诗", stream=False)
    assert elsewhere["ok"] == 0 and elsewhere["seqs"] == [1, 2]  # another session may ask
    generating = api.post("/update_chat", {"user_id": user, "session_id": "s", "seq": 2})
    assert generating.json()["ok"] in (1, 11)  # no field: ok 1 comes first
    changed = api.post(
        "/update_chat", {"user_id": user, "session_id": "s", "seq": 2, "status": "complete"}
    )
    assert (changed.status_code, changed.json()["ok"]) == (409, 11), changed.text
    assert api.call("/stop_reply", user_id=user, session_id="s", seq=2)["ok"] == 0


def test_regenerate_answers_the_last_question_again(api: Api, user: str, fake: FakeModel):
    fake.script(Reply(content=["第一"]), Reply(content=["第二"]))
    ask(api, user, session_id="s", msg="写诗")
    events = ask(api, user, session_id="s", regenerate=True)
    assert events[0].data["seqs"] == [3]
    assert sse.text_of(events)[0] == "第二"
    info = api.call("/query_session_info", user_id=user, session_id="s")
    assert [(c["seq"], c["role"], c["msg"]) for c in info["chats"]] == [
        (1, "user", "写诗"),
        (3, "ai", "第二"),
    ]
    assert fake.requests[-1]["messages"] == [{"role": "user", "content": "写诗"}]
    api.call("/add_chat", user_id=user, session_id="s", role="user", msg="还有吗")
    last_is_user = api.post("/ask_ai", {"user_id": user, "session_id": "s", "regenerate": True})
    assert last_is_user.json()["ok"] == 11, last_is_user.text
    nowhere = api.post("/ask_ai", {"user_id": user, "session_id": "nope", "regenerate": True})
    assert nowhere.json()["ok"] == 2
    no_session = api.post("/ask_ai", {"user_id": user, "regenerate": True})
    assert no_session.json()["ok"] == 1 and no_session.json()["failed"].startswith("session_id:")
    with_msg = api.post(
        "/ask_ai", {"user_id": user, "session_id": "s", "regenerate": True, "msg": "x"}
    )
    assert with_msg.json()["ok"] == 1 and with_msg.json()["failed"].startswith("regenerate:")


def test_a_model_that_answers_429_first_is_asked_again(api: Api, user: str, fake: FakeModel):
    fake.script(Fail(429, retry_after=0.3), Fail(503), Reply(content=["好"]))
    events = ask(api, user, msg="hi")
    assert events[-1].data["status"] == "complete" and sse.text_of(events)[0] == "好"
    assert fake.calls == 3


def test_a_model_that_stays_down_fails_the_reply(quick: Api, fake: FakeModel):
    user = quick.new_user()
    fake.default = Fail(503)
    events = ask(quick, user, session_id="s", msg="hi")
    done = events[-1].data
    assert done["status"] == "failed" and "503" in done["failed"], done
    assert done["meta"]["error"] == done["failed"]
    assert message(quick, user, "s", 2)["status"] == "failed"
    assert fake.calls >= 2  # tried again within the budget


def test_a_broken_stream_fails_keeping_its_text(api: Api, user: str, fake: FakeModel):
    pieces = chinese_pieces(10)
    fake.script(Reply(content=pieces, break_after=4), Reply(content=["不该"]))
    events = ask(api, user, session_id="s", msg="hi")
    done = events[-1].data
    assert done["status"] == "failed" and done["failed"], done
    assert sse.text_of(events)[0] == "".join(pieces[:4])
    assert done["meta"]["usage"]["estimated"] is True
    reply = message(api, user, "s", 2)
    assert (reply["status"], reply["msg"]) == ("failed", "".join(pieces[:4]))
    assert fake.calls == 1  # never retried after the first token


def test_a_hung_model_fails_after_its_timeout(quick: Api, fake: FakeModel):
    user = quick.new_user()
    fake.default = Hang()
    try:
        events = ask(quick, user, session_id="s", msg="hi")
    finally:
        fake.release()
    assert events[-1].data["status"] == "failed"
    assert message(quick, user, "s", 2)["status"] == "failed"


def test_the_context_sent(serve: Callable[..., Api], store_kind: str, fake: FakeModel):
    api = serve(
        store_kind,
        **model_settings(fake, llm_system_prompt="你是诗人", llm_context_tokens=60),
    )
    user = api.new_user()
    turn = [
        {"role": "system", "msg": "只用中文回答"},
        {"role": "user", "msg": "很久以前的问题" * 5},
        {"role": "ai", "msg": "很久以前的回答", "reasoning": "不可外传的推理"},
        {"role": "user", "msg": "看图", "parts": [{"type": "image", "url": "https://x.cn/a.png"}]},
        {"role": "ai", "msg": "一只猫", "reasoning": "另一段推理"},
        {"role": "user", "msg": "文件", "parts": [{"type": "file", "url": "cloud://env/a.pdf"}]},
        {"role": "ai", "msg": "", "status": "failed"},
    ]
    assert api.call("/add_chats", user_id=user, session_id="s", chats=turn)["ok"] == 0
    ask(api, user, session_id="s", msg="现在呢")
    sent = fake.requests[-1]["messages"]
    assert sent[:2] == [
        {"role": "system", "content": "你是诗人"},
        {"role": "system", "content": "只用中文回答"},
    ]
    assert sent[-1] == {"role": "user", "content": "现在呢"}
    assert "推理" not in str(sent)  # earlier reasoning is never sent
    assert "很久以前" not in str(sent)  # past the budget: the oldest go first
    assert {"role": "assistant", "content": "一只猫"} in sent
    assert {"role": "user", "content": "文件\n[file attached: cloud://env/a.pdf]"} in sent
    assert all(m.get("content") != "" for m in sent)  # the failed reply is not sent


def test_an_image_goes_as_an_image_part(api: Api, user: str, fake: FakeModel):
    parts = [{"type": "image", "url": "https://x.cn/cat.png"}]
    ask(api, user, msg="这是什么", parts=parts)
    assert fake.requests[-1]["messages"][-1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "这是什么"},
            {"type": "image_url", "image_url": {"url": "https://x.cn/cat.png"}},
        ],
    }


def test_the_daily_quota_and_its_midnight(quick: Api, fake: FakeModel):
    user = quick.new_user()
    fake.default = Reply(content=["好"], prompt_tokens=30, completion_tokens=15)
    assert ask(quick, user, msg="一")[-1].data["status"] == "complete"  # 45 of 40 tokens
    refused = quick.post("/ask_ai", {"user_id": user, "msg": "二"})
    assert (refused.status_code, refused.json()["ok"]) == (429, 7), refused.text
    assert refused.json()["failed"].startswith("quota:")
    zone = ZoneInfo("Asia/Shanghai")
    now = datetime.now(zone)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert abs(int(refused.headers["retry-after"]) - (midnight - now).total_seconds()) < 5
    # Midnight passes in the quota's zone: the tokens counted are yesterday's.
    yesterday = (now - timedelta(days=1)).strftime("%Y-%m-%d")
    sql(quick, "UPDATE ai_usage SET day = :day WHERE user_id = :u", day=yesterday, u=user)
    assert ask(quick, user, msg="三")[-1].data["status"] == "complete"


def test_deleting_the_session_stops_the_model_and_writes_nothing_more(
    api: Api, user: str, fake: FakeModel
):
    fake.script(slow(80, 0.05))
    sse.first_events(api, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "诗"}, 2)
    assert api.call("/delete_specific_session", user_id=user, session_id="s")["ok"] == 0
    wait_until(lambda: fake.disconnects >= 1, "the model's stream is closed")
    gone = api.post("/query_session_info", {"user_id": user, "session_id": "s"})
    assert gone.json()["ok"] == 2
    assert api.call("/query_session_names", user_id=user)["sessions"] == []
    assert sql(api, "SELECT seq FROM ai_replies WHERE user_id = :u", u=user) == []
    follow = api.post("/follow_reply", {"user_id": user, "session_id": "s", "seq": 2})
    assert follow.json()["ok"] == 2


def test_replies_are_counted_in_the_metrics(api: Api, user: str, fake: FakeModel):
    fake.script(Reply(content=["好"], prompt_tokens=7, completion_tokens=3))
    ask(api, user, msg="hi")
    text = api.http.get("/metrics").text
    assert 'huihua_replies_total{model="fake-chat",status="complete"}' in text
    assert 'huihua_reply_tokens_total{kind="prompt",model="fake-chat"}' in text
    assert "huihua_reply_first_token_seconds_bucket" in text


def test_the_model_key_is_shown_nowhere(api: Api, user: str, fake: FakeModel, server_logs):
    fake.script(Fail(401, message=f"Incorrect API key provided: {MODEL_KEY}"))
    events = ask(api, user, session_id="s", msg="hi")
    assert events[-1].data["status"] == "failed"
    shown = [
        str(events),
        str(message(api, user, "s", 2)),
        api.http.get("/metrics").text,
        api.http.get("/healthz").text,
        server_logs.text,
    ]
    for text in shown:
        assert MODEL_KEY not in text
        assert MODEL_KEY[:16] not in text


@pytest.fixture(scope="module")
def guarded(serve: Callable[..., Api], store_kind: str, wechat: FakeWeChat, model: FakeModel):
    api = serve(
        store_kind,
        **secure_settings(wechat, rate_limit_user=0, rate_limit_address=0),
        **model_settings(model),
    )
    return api


def test_a_user_token_asks_on_its_own_sessions_only(guarded: Api, fake: FakeModel):
    a = login(guarded)
    b = login(guarded)
    body = {"user_id": a["user_id"], "session_id": "s"}
    mine = send(guarded, "/ask_ai", {**body, "msg": "诗"}, a["token"])
    assert mine.status_code == 200 and sse.parse(mine.text)[-1].data["status"] == "complete"
    no_user_id = send(guarded, "/ask_ai", {"session_id": "t", "msg": "诗"}, a["token"])
    assert sse.parse(no_user_id.text)[0].data["ok"] == 0  # the token's own user
    for path, fields in (
        ("/ask_ai", {"msg": "诗"}),
        ("/follow_reply", {"seq": 2}),
        ("/stop_reply", {"seq": 2}),
    ):
        theirs = send(guarded, path, {**body, **fields}, b["token"])
        assert (theirs.status_code, theirs.json()["ok"]) == (403, 4), (path, theirs.text)
