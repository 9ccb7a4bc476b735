"""huihua.client's replies against the real server and the fake model (fake_model.py): a
whole stream and its follows, a connection broken mid-reply or before start by the test's
transport (:class:`Breaking`: the server has answered, and goes on), stop_reply, and the
async client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from huihua.client import AsyncClient, Client, Delta, Done, Reply, Start

from .conftest import login_settings, model_settings
from .fake_script import Reply as ModelReply
from .fake_script import chinese_pieces

if TYPE_CHECKING:
    from .conftest import Api
    from .fake_model import FakeModel
    from .fake_wechat import FakeWeChat


class Breaking(httpx.HTTPTransport):
    """An httpx transport to the real server that breaks the body of the next answer to a
    path after N events (0: before any byte), as a mobile network does; the server has
    answered, and goes on."""

    def __init__(self) -> None:
        super().__init__()
        self.breaks: dict[str, list[int]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        cuts = self.breaks.get(request.url.path)
        if not cuts:
            return response
        stream = _CutStream(response.stream, cuts.pop(0))  # type: ignore[arg-type]
        return httpx.Response(
            response.status_code, headers=response.headers, stream=stream, request=request
        )


class _CutStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, events: int) -> None:
        self.inner, self.events = inner, events

    def __iter__(self) -> Iterator[bytes]:
        buffer, sent = b"", 0
        for chunk in self.inner if self.events else ():
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                yield frame + b"\n\n"
                sent += not frame.startswith(b":")
                if sent == self.events:
                    raise httpx.ReadError(f"the test broke the stream after {sent} events")
        raise httpx.ReadError("the test broke the stream before any event")

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def live(serve: Any, wechat: FakeWeChat, model: FakeModel) -> Api:
    api: Api = serve("sqlite", **login_settings(wechat), **model_settings(model))
    return api


@pytest.fixture
def breaking(live: Api, model: FakeModel) -> Iterator[tuple[Client, Breaking]]:
    model.reset()
    transport = Breaking()
    with Client(live.base_url, backoff=0.01, transport=transport) as client:
        client.add_user(user_id="u-live", user_name="tester")
        yield client, transport


def _check_ids(events: list[Any]) -> Start:
    """Check the events are start, deltas, done, numbered from 1 without a gap; return start."""
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[0], Start) and isinstance(events[-1], Done)
    assert all(isinstance(e, Delta) for e in events[1:-1])
    return events[0]


def _stored(client: Client, start: Start) -> str:
    chat = next(client.messages(user_id="u-live", session_id=start.session_id))  # newest
    assert chat.seq == start.seq
    return chat.msg


def test_live_a_reply_read_whole_and_followed(
    breaking: tuple[Client, Breaking], model: FakeModel
) -> None:
    client, _ = breaking
    model.script(ModelReply(content=["秋", "风", "起"], reasoning=["想"]))
    stream = client.ask_ai(user_id="u-live", msg="写诗")
    events = list(stream)
    start = _check_ids(events)
    reply = stream.reply
    assert (reply.msg, reply.reasoning, reply.status) == ("秋风起", "想", "complete")
    assert reply.meta["model"] == "fake-chat" and _stored(client, start) == "秋风起"
    for after in (0, 2):
        again = client.follow_reply(
            user_id="u-live", session_id=start.session_id, seq=start.seq, after=after
        )
        assert list(again) == events[after:]
    assert model.calls == 1


def test_live_a_stream_broken_mid_reply_is_followed(
    breaking: tuple[Client, Breaking], model: FakeModel
) -> None:
    client, transport = breaking
    pieces = chinese_pieces(30)
    model.script(ModelReply(content=pieces, delay_s=0.01))
    transport.breaks["/ask_ai"] = [3]
    transport.breaks["/follow_reply"] = [2]  # the first follow breaks too
    stream = client.ask_ai(user_id="u-live", msg="写长诗")
    start = _check_ids(list(stream))
    assert (stream.reply.msg, stream.reply.status) == ("".join(pieces), "complete")
    assert _stored(client, start) == "".join(pieces) and model.calls == 1
    assert transport.breaks == {"/ask_ai": [], "/follow_reply": []}


def test_live_an_ask_broken_before_start_asks_the_model_once(
    breaking: tuple[Client, Breaking], model: FakeModel
) -> None:
    client, transport = breaking
    model.script(ModelReply(content=["一", "二"], delay_s=0.01))
    transport.breaks["/ask_ai"] = [0]
    stream = client.ask_ai(user_id="u-live", msg="数数", request_id="live-once")
    start = _check_ids(list(stream))
    assert start.request_id == "live-once" and stream.reply.msg == "一二"
    assert model.calls == 1 and transport.breaks["/ask_ai"] == []


def test_live_stop_reply_ends_the_stream_cancelled(
    breaking: tuple[Client, Breaking], model: FakeModel
) -> None:
    client, _ = breaking
    pieces = chinese_pieces(400)
    model.script(ModelReply(content=pieces, delay_s=0.02))
    with client.ask_ai(user_id="u-live", msg="别停") as stream:
        start = next(stream)
        assert isinstance(start, Start)
        assert isinstance(next(stream), Delta)  # the model has begun
        stopped = client.stop_reply(user_id="u-live", session_id=start.session_id, seq=start.seq)
        assert (stopped.seq, stopped.status) == (start.seq, "cancelled")
        reply = stream.collect()
    assert reply.status == "cancelled" and "".join(pieces).startswith(reply.msg)
    assert len(reply.msg) < len("".join(pieces))


def test_live_the_async_client_reads_and_stores_a_reply(live: Api, model: FakeModel) -> None:
    model.reset()
    model.script(ModelReply(content=["春", "眠"]), ModelReply(content=["不", "觉", "晓"]))

    async def main() -> tuple[list[Any], Start, Reply]:
        async with AsyncClient(live.base_url, backoff=0.01) as client:
            await client.add_user(user_id="u-live-async", user_name="tester")
            stream = client.ask_ai(user_id="u-live-async", msg="诗")
            events = [event async for event in stream]
            start = await client.ask_ai(user_id="u-live-async", msg="再来", stream=False)
            follow = client.follow_reply(
                user_id="u-live-async", session_id=start.session_id, seq=start.seq
            )
            return events, start, await follow.collect()

    events, start, later = asyncio.run(main())
    first = _check_ids(events)
    assert (start.id, start.seqs, start.session_id != first.session_id) == (1, [1, 2], True)
    assert (later.msg, later.status, later.start) == ("不觉晓", "complete", start)
    assert model.calls == 2
