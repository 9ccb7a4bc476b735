"""huihua.client's replies (API.md §8): ask_ai and follow_reply as streams of typed events
that resume by themselves, stop_reply, and the errors of an ask, on both clients, against
the fake of fake_replies.py, which says exactly how each stream misbehaves (the same with
the real server and the fake model: test_client_replies_live.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from huihua import errors
from huihua.client import AsyncClient, Client, Delta, Done, NoReply, Reply, Start
from huihua.wire.replies import StopReplyReply

from .conftest import free_port
from .fake_replies import CREATED_AT, NOTICE, REASONING, TEXT, FakeReplies


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeReplies]:
    server = FakeReplies()
    yield server
    server.stop()


def _read(fake: FakeReplies, kind: str, question: str, **options: Any) -> tuple[list[Any], Reply]:
    """Ask ``question`` with the sync or the async client; return the events and the Reply."""
    settings = {"backoff": 0.01, "retries": 3, "idle_timeout": 5.0, **options}
    if kind == "sync":
        with Client(fake.base, service_key="k", **settings) as client:
            stream = client.ask_ai(user_id="u1", msg=question)
            return list(stream), stream.reply

    async def main() -> tuple[list[Any], Reply]:
        async with AsyncClient(fake.base, service_key="k", **settings) as client:
            stream = client.ask_ai(user_id="u1", msg=question)
            return [event async for event in stream], stream.reply

    return asyncio.run(main())


def _check_whole(events: list[Any], reply: Reply) -> None:
    """The caller saw the reply's six events once each, in order, and the whole text."""
    assert [e.id for e in events] == [1, 2, 3, 4, 5, 6]
    assert [type(e) for e in events] == [Start, Delta, Delta, Delta, Delta, Done]
    assert (reply.msg, reply.reasoning, reply.status, reply.failed) == (
        TEXT,
        REASONING,
        "complete",
        "",
    )
    assert reply.start == events[0] and reply.done == events[-1] and reply.meta == {"n": 1}


def _sent(body: dict[str, Any]) -> set[str]:
    """Return the fields the client sent (the fake's notes begin with _)."""
    return {k for k in body if not k.startswith("_")}


KINDS = ["sync", "async"]


# -- one uninterrupted stream --------------------------------------------------------------
# Re-point at the real server and fake model once /ask_ai exists: the whole stream, pings.


@pytest.mark.parametrize("kind", KINDS)
def test_a_whole_stream_is_typed_events_and_the_reply(fake: FakeReplies, kind: str) -> None:
    question = f"whole-{kind}"
    events, reply = _read(fake, kind, question)
    _check_whole(events, reply)
    start = events[0]
    assert (start.session_id, start.seqs, start.seq, start.created_at) == (
        reply.start and reply.start.session_id,
        [1, 2],
        2,
        CREATED_AT,
    )
    (ask,) = fake.asked(question)
    assert start.request_id == ask["request_id"] and ask["request_id"].startswith("py-")
    assert _sent(ask) == {"user_id", "msg", "request_id"}
    assert fake.followed(start.session_id) == []


@pytest.mark.parametrize("kind", KINDS)
def test_pings_multi_line_data_and_crlf_are_read(fake: FakeReplies, kind: str) -> None:
    events, reply = _read(fake, kind, f"pings {kind}")
    _check_whole(events, reply)


def test_pings_keep_a_slow_stream_alive_past_the_idle_timeout(fake: FakeReplies) -> None:
    question = "slowpings"
    events, reply = _read(fake, "sync", question, idle_timeout=0.5)
    _check_whole(events, reply)
    assert fake.followed(events[0].session_id) == []
    assert len(fake.asked(question)) == 1


# -- resumed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["cut", "break"])
def test_a_stream_cut_after_3_events_is_followed_from_3(
    fake: FakeReplies, kind: str, how: str
) -> None:
    question = f"{how}=3 {kind}"
    events, reply = _read(fake, kind, question)
    _check_whole(events, reply)
    (ask,) = fake.asked(question)
    (follow,) = fake.followed(events[0].session_id)
    assert follow["request_id"] == ask["request_id"]  # one request in the server's logs
    assert {k: follow[k] for k in ("user_id", "session_id", "seq", "after")} == {
        "user_id": "u1",
        "session_id": events[0].session_id,
        "seq": 2,
        "after": 3,
    }
    assert _sent(follow) == {"user_id", "session_id", "seq", "after", "request_id"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_follow_cut_again_is_followed_from_where_it_stopped(fake: FakeReplies, kind: str) -> None:
    events, reply = _read(fake, kind, f"cut=3 followcut=3 {kind}")  # start, 4, 5; then 6
    _check_whole(events, reply)
    assert [f["after"] for f in fake.followed(events[0].session_id)] == [3, 5]


def test_each_stream_that_brings_news_earns_fresh_tries(fake: FakeReplies) -> None:
    events, reply = _read(fake, "sync", "cut=2 followcut=2 fresh", retries=1)  # 1 new each
    _check_whole(events, reply)
    assert [f["after"] for f in fake.followed(events[0].session_id)] == [2, 3, 4, 5]


@pytest.mark.parametrize("kind", KINDS)
def test_streams_that_bring_nothing_new_end_in_no_reply(fake: FakeReplies, kind: str) -> None:
    question = f"cut=1 followcut=1 {kind}"  # start, then follows that send start alone
    with pytest.raises(NoReply) as raised:
        _read(fake, kind, question, retries=3)
    (ask,) = fake.asked(question)
    session_id = ask["_session_id"]
    assert [f["after"] for f in fake.followed(session_id)] == [1, 1, 1]
    assert "before done" in raised.value.failed
    assert raised.value.request_id == ask["request_id"]  # the ask is safe to send again


@pytest.mark.parametrize("kind", KINDS)
def test_events_sent_again_are_skipped(fake: FakeReplies, kind: str) -> None:
    events, reply = _read(fake, kind, f"cut=3 overlap {kind}")  # the follow resends 3
    _check_whole(events, reply)


@pytest.mark.parametrize("kind", KINDS)
def test_a_replace_delta_replaces_the_text(fake: FakeReplies, kind: str) -> None:
    events, reply = _read(fake, kind, f"cut=4 evicted {kind}")  # has 秋风, gets it all
    assert [e.id for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[4] == Delta(id=5, msg=TEXT, reasoning=REASONING, replace=True)
    assert (reply.msg, reply.reasoning, reply.status) == (TEXT, REASONING, "complete")


@pytest.mark.parametrize("kind", KINDS)
def test_a_silent_stream_is_taken_as_cut_after_the_idle_timeout(
    fake: FakeReplies, kind: str
) -> None:
    events, reply = _read(fake, kind, f"stall=3 {kind}", idle_timeout=0.5)
    _check_whole(events, reply)
    assert [f["after"] for f in fake.followed(events[0].session_id)] == [3]


@pytest.mark.parametrize("kind", KINDS)
def test_an_ask_broken_before_start_is_asked_again_with_its_request_id(
    fake: FakeReplies, kind: str
) -> None:
    question = f"break=0 {kind}"
    events, reply = _read(fake, kind, question)
    _check_whole(events, reply)
    first, again = fake.asked(question)
    assert first["request_id"] == again["request_id"] == events[0].request_id
    assert fake.followed(events[0].session_id) == []


def test_the_callers_request_id_is_sent_on_every_try(fake: FakeReplies) -> None:
    with Client(fake.base, backoff=0.01) as client:
        stream = client.ask_ai(user_id="u1", msg="break=0 mine", request_id="mine-1")
        assert stream.request_id == "mine-1"
        assert stream.collect().msg == TEXT
    assert [a["request_id"] for a in fake.asked("break=0 mine")] == ["mine-1", "mine-1"]


def test_a_blocked_reply_ends_with_its_notice(fake: FakeReplies) -> None:
    events, reply = _read(fake, "sync", "blocked")
    assert events[-1].status == "blocked" and events[-1].msg == NOTICE
    assert (reply.msg, reply.reasoning, reply.status) == (NOTICE, "", "blocked")


# -- errors before the stream --------------------------------------------------------------
# Re-point ok 11 (a reply already streaming in the session) at the real server.


@pytest.mark.parametrize("kind", KINDS)
def test_an_envelope_before_the_stream_raises_its_error(fake: FakeReplies, kind: str) -> None:
    question = f"fail=11 {kind}"
    with pytest.raises(errors.NotApplicable) as raised:
        _read(fake, kind, question)
    (ask,) = fake.asked(question)
    assert (raised.value.ok, raised.value.status, raised.value.request_id) == (
        11,
        409,
        ask["request_id"],
    )
    assert raised.value.failed == "fake: ok 11"


@pytest.mark.parametrize("kind", KINDS)
def test_ok_7_is_asked_again_after_retry_after_then_raised(fake: FakeReplies, kind: str) -> None:
    question = f"fail=7 retryafter=1 {kind}"
    with pytest.raises(errors.RateLimited) as raised:
        _read(fake, kind, question, retries=1)
    first, again = fake.asked(question)
    assert first["request_id"] == again["request_id"] == raised.value.request_id
    assert again["_at"] - first["_at"] >= 0.9  # Retry-After: 1
    assert (raised.value.ok, raised.value.status) == (7, 429)


@pytest.mark.parametrize("kind", KINDS)
def test_ok_8_is_asked_again_with_the_same_request_id(fake: FakeReplies, kind: str) -> None:
    question = f"failonce=8 {kind}"
    events, reply = _read(fake, kind, question)
    _check_whole(events, reply)
    first, again = fake.asked(question)
    assert first["request_id"] == again["request_id"] == events[0].request_id


def test_following_an_unknown_reply_raises_not_found(fake: FakeReplies) -> None:
    with Client(fake.base, backoff=0.01) as client, pytest.raises(errors.NotFound):
        list(client.follow_reply(user_id="u1", session_id="nowhere", seq=2))


def test_no_server_is_no_reply_once_the_tries_are_spent() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", backoff=0.01, retries=2) as client:
        stream = client.ask_ai(user_id="u1", msg="hello")
        with pytest.raises(NoReply) as raised:
            next(stream)
    assert raised.value.request_id == stream.request_id


# -- follow, stop, stream=False ------------------------------------------------------------
# Re-point at the real server: follow from 0 and from an id, stop, stream=False.


@pytest.mark.parametrize("kind", KINDS)
def test_follow_reply_from_0_and_from_an_id(fake: FakeReplies, kind: str) -> None:
    events, _ = _read(fake, kind, f"followed {kind}")
    session_id = events[0].session_id

    def follow(after: int) -> list[Any]:
        if kind == "sync":
            with Client(fake.base, backoff=0.01) as client:
                fields = {"user_id": "u1", "session_id": session_id, "seq": 2, "after": after}
                return list(client.follow_reply(**fields))

        async def main() -> list[Any]:
            async with AsyncClient(fake.base, backoff=0.01) as client:
                stream = client.follow_reply(
                    user_id="u1", session_id=session_id, seq=2, after=after
                )
                return [event async for event in stream]

        return asyncio.run(main())

    assert follow(0) == events
    assert follow(4) == events[4:]


def test_collect_after_some_events_and_close_early(fake: FakeReplies) -> None:
    with Client(fake.base, backoff=0.01) as client:
        stream = client.ask_ai(user_id="u1", msg="collect")
        assert isinstance(next(stream), Start) and stream.reply.status == "streaming"
        assert stream.collect() is stream.reply and stream.reply.msg == TEXT
        with client.ask_ai(user_id="u1", msg="closed") as early:
            next(early)
            next(early)
        assert early.reply.msg == "" and early.reply.reasoning == REASONING
        with pytest.raises(StopIteration):
            next(early)


@pytest.mark.parametrize("kind", KINDS)
def test_stream_false_returns_the_start(fake: FakeReplies, kind: str) -> None:
    question = f"stored {kind}"
    if kind == "sync":
        with Client(fake.base, backoff=0.01) as client:
            start = client.ask_ai(user_id="u1", msg=question, stream=False)
    else:

        async def main() -> Start:
            async with AsyncClient(fake.base, backoff=0.01) as client:
                return await client.ask_ai(user_id="u1", msg=question, stream=False)

        start = asyncio.run(main())
    (ask,) = fake.asked(question)
    assert ask["stream"] is False
    assert start == Start(
        id=1,
        request_id=ask["request_id"],
        session_id=start.session_id,
        seqs=[1, 2],
        created_at=CREATED_AT,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_stop_reply_is_a_plain_call(fake: FakeReplies, kind: str) -> None:
    if kind == "sync":
        with Client(fake.base, backoff=0.01) as client:
            reply = client.stop_reply(user_id="u1", session_id=f"stop-{kind}", seq=2)
    else:

        async def main() -> StopReplyReply:
            async with AsyncClient(fake.base, backoff=0.01) as client:
                return await client.stop_reply(user_id="u1", session_id=f"stop-{kind}", seq=2)

        reply = asyncio.run(main())
    assert isinstance(reply, StopReplyReply)
    assert (reply.seq, reply.status) == (2, "cancelled")
    (sent,) = [s for s in fake.stops if s["session_id"] == f"stop-{kind}"]
    assert {k: sent[k] for k in ("user_id", "seq")} == {"user_id": "u1", "seq": 2}


def test_ask_ai_sends_the_fields_it_is_given_and_no_others(fake: FakeReplies) -> None:
    with Client(fake.base, backoff=0.01) as client:
        client.ask_ai(
            user_id="u1",
            session_id="given",
            session_title="秋",
            msg="fields",
            parts=[{"type": "image", "url": "https://x/a.png"}],
            meta={"client": 1},
            model="m2",
            notify=True,
        ).collect()
        client.ask_ai(user_id="u1", session_id="given", regenerate=True).collect()
    asked = [a for a in fake.asks if a.get("session_id") == "given"]
    assert [sorted(_sent(a) - {"request_id"}) for a in asked] == [
        sorted(
            ["user_id", "session_id", "session_title", "msg", "parts", "meta", "model", "notify"]
        ),
        ["regenerate", "session_id", "user_id"],
    ]
    assert asked[0]["notify"] is True and asked[1]["regenerate"] is True
