"""The model client (relay/model.py) against the fake model (fake_model.py), over real HTTP.

What API.md §8.1 and §8.4 ask of it: text and reasoning as they come, the usage, the retries
before the first text and none after it, the timeouts, a key that never reaches an error,
and a connection closed as soon as nobody reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from huihua.relay.chunks import Chunk, Ended, Parser, Usage
from huihua.relay.model import (
    ModelBroken,
    ModelClient,
    ModelError,
    ModelSettings,
)
from huihua.relay.think import ThinkSplitter

from .conftest import free_port
from .fake_model import Fail, FakeModel, Hang, Reply, chinese_pieces, until, wait_until

KEY = "sk-canary-5f1e2d3c4b5a69788796a5b4"
ASK: list[dict[str, Any]] = [
    {"role": "system", "content": "你是诗人"},
    {"role": "user", "content": "写一首秋天的诗"},
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeModel]:
    fake = FakeModel(free_port())
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeModel) -> FakeModel:
    server.reset()
    return server


@dataclasses.dataclass
class Outcome:
    chunks: list[Chunk]
    ended: Ended | None
    error: ModelError | None
    seconds: float

    @property
    def content(self) -> str:
        return "".join(c.content for c in self.chunks)

    @property
    def reasoning(self) -> str:
        return "".join(c.reasoning for c in self.chunks)


def settings(fake: FakeModel, **changes: Any) -> ModelSettings:
    return dataclasses.replace(ModelSettings(fake.base_url, KEY), **changes)


def ask(fake: FakeModel, **changes: Any) -> Outcome:
    """Return what one call yields (and raises), with the time it took."""

    async def run() -> Outcome:
        client = ModelClient(settings(fake, **changes))
        chunks: list[Chunk] = []
        ended: Ended | None = None
        error: ModelError | None = None
        started = time.monotonic()
        try:
            async for item in client.stream("deepseek-chat", ASK):
                assert ended is None, "nothing comes after Ended"
                if isinstance(item, Ended):
                    ended = item
                else:
                    assert item.content or item.reasoning
                    chunks.append(item)
        except ModelError as exc:
            error = exc
        finally:
            await client.aclose()
        return Outcome(chunks, ended, error, time.monotonic() - started)

    return asyncio.run(run())


def test_text_and_usage(fake: FakeModel) -> None:
    fake.script(Reply(content=chinese_pieces(30), prompt_tokens=31, completion_tokens=120))
    outcome = ask(fake)
    assert outcome.error is None
    assert outcome.content == "".join(chinese_pieces(30))
    assert outcome.reasoning == ""
    assert outcome.ended == Ended("stop", Usage(prompt_tokens=31, completion_tokens=120))


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_from_its_field(fake: FakeModel, field: str) -> None:
    fake.script(
        Reply(reasoning=["用户", "想要"], content=["秋", "风"], reasoning_field=field, delay_s=0.01)
    )
    outcome = ask(fake)
    assert (outcome.reasoning, outcome.content) == ("用户想要", "秋风")
    # Each piece came in a read of its own (10 ms apart): one Chunk each, in order.
    assert outcome.chunks == [
        Chunk("", "用户"),
        Chunk("", "想要"),
        Chunk("秋", ""),
        Chunk("风", ""),
    ]


def test_without_usage_and_cut_short(fake: FakeModel) -> None:
    fake.script(Reply(send_usage=False, finish_reason="length"))
    outcome = ask(fake)
    assert outcome.content == "你好，世界"
    assert outcome.ended == Ended("length", None)


def test_a_stream_without_done_ends_at_its_finish_reason(fake: FakeModel) -> None:
    fake.script(Reply(done=False))
    outcome = ask(fake)
    assert outcome.error is None
    assert outcome.ended == Ended("stop", Usage(11, 3))


def test_the_request(fake: FakeModel) -> None:
    ask(fake)
    assert fake.calls == 1
    assert fake.paths == ["/v1/chat/completions"]
    assert fake.keys == [KEY]
    assert fake.requests[0] == {
        "model": "deepseek-chat",
        "messages": ASK,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    ask(fake, api_key="", base_url=fake.base_url + "/")
    assert fake.keys[1] is None
    assert fake.paths[1] == "/v1/chat/completions"


@pytest.mark.parametrize(
    "pieces",
    [
        ["<think>想想</think>答案"],
        ["<th", "ink>想", "想</th", "ink>\n\n答", "案"],
        ["\n", " <", "think", ">", "想想<", "/", "think", ">", "答案"],
        ["<think>想想</think", ">", "\n\n", "答案"],
    ],
)
def test_think_tags_split_across_chunks(fake: FakeModel, pieces: list[str]) -> None:
    fake.script(Reply(content=pieces, delay_s=0.005))
    outcome = ask(fake, think_tags=True)
    assert (outcome.reasoning, outcome.content) == ("想想", "答案")


def test_think_tags_only_when_the_setting_says(fake: FakeModel) -> None:
    fake.script(Reply(content=["<think>想想</think>", "答案"]))
    assert ask(fake).content == "<think>想想</think>答案"


@pytest.mark.parametrize(
    ("content", "text", "reasoning"),
    [
        ("<think>想想</think>\n\n答案", "答案", "想想"),
        (
            "  \n<think>\n想想\n</think>\n答案 <think>不是</think>",
            "答案 <think>不是</think>",
            "\n想想\n",
        ),
        ("答案 <think>不是</think>", "答案 <think>不是</think>", ""),
        ("  <thinking> 不是", "  <thinking> 不是", ""),
        ("<thi", "<thi", ""),
        ("<think>没有结束", "", "没有结束"),
        ("<think>想</thin", "", "想</thin"),
        ("", "", ""),
        ("  ", "  ", ""),
        ("a<b</think>c", "a<b</think>c", ""),
    ],
)
def test_think_splitter_at_every_cut(content: str, text: str, reasoning: str) -> None:
    """Every way of cutting the content in three pieces gives the same text and reasoning."""
    for i, j in itertools.combinations_with_replacement(range(len(content) + 1), 2):
        splitter = ThinkSplitter()
        got = [splitter.feed(piece) for piece in (content[:i], content[i:j], content[j:])]
        got.append(splitter.flush())
        assert ("".join(t for t, _ in got), "".join(r for _, r in got)) == (text, reasoning), (i, j)


def test_429_then_success_obeys_retry_after(fake: FakeModel) -> None:
    fake.script(Fail(429, retry_after=0.4), Reply(content=["好"]))
    outcome = ask(fake, retry_budget_s=5)
    assert outcome.error is None
    assert outcome.content == "好"
    assert fake.calls == 2
    assert outcome.seconds >= 0.4


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(fake: FakeModel, status: int) -> None:
    fake.script(Fail(status), Fail(status), Reply(content=["好"]))
    outcome = ask(fake, retry_budget_s=5)
    assert (outcome.content, fake.calls) == ("好", 3)


def test_503_past_the_budget_is_a_model_error(fake: FakeModel) -> None:
    fake.default = Fail(503, message="Service is too busy")
    outcome = ask(fake, retry_budget_s=1.0)
    assert type(outcome.error) is ModelError
    assert outcome.error.status == 503
    assert str(outcome.error).startswith("the model answered 503: Service is too busy (")
    assert fake.calls >= 3  # back-off 0.25 s, 0.5 s… with jitter: several tries within 1 s
    assert 1.0 <= outcome.seconds < 3.0
    assert outcome.chunks == [] and outcome.ended is None


def test_a_retry_after_past_the_budget_fails_at_once(fake: FakeModel) -> None:
    fake.script(Fail(429, message="Rate limit reached", retry_after=30))
    outcome = ask(fake, retry_budget_s=2)
    assert type(outcome.error) is ModelError
    assert str(outcome.error) == (
        "the model answered 429: Rate limit reached (1 try, and asks to wait 30 s)"
    )
    assert fake.calls == 1
    assert outcome.seconds < 1.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_refusals_fail_at_once(fake: FakeModel, status: int) -> None:
    fake.script(Fail(status, message="This model's maximum context length is 65536 tokens. " * 9))
    outcome = ask(fake)
    assert type(outcome.error) is ModelError
    assert outcome.error.status == status
    reason = str(outcome.error)
    assert reason.startswith(f"the model answered {status}: This model's maximum context length")
    assert len(reason) <= 230
    assert fake.calls == 1


def test_unreachable_is_retried_within_the_budget() -> None:
    port = free_port()  # nothing listens there
    unreachable = ModelSettings(f"http://127.0.0.1:{port}/v1", KEY, retry_budget_s=0.8)

    async def run() -> tuple[ModelError, float]:
        client = ModelClient(unreachable)
        started = time.monotonic()
        with pytest.raises(ModelError) as raised:
            async for _ in client.stream("m", ASK):
                pass
        await client.aclose()
        return raised.value, time.monotonic() - started

    error, seconds = asyncio.run(run())
    assert type(error) is ModelError
    assert str(error).startswith("the model could not be reached (ClientConnectorError")
    assert "tries)" in str(error)
    assert 0.8 <= seconds < 2.5


def test_broken_after_3_chunks_keeps_them_and_is_not_retried(fake: FakeModel) -> None:
    fake.script(Reply(content=["一", "二", "三", "四", "五"], break_after=3, delay_s=0.01))
    outcome = ask(fake, retry_budget_s=5)
    assert isinstance(outcome.error, ModelBroken)
    assert str(outcome.error).startswith("the model's stream broke (ClientPayloadError")
    assert outcome.content == "一二三"
    assert outcome.ended is None
    assert fake.calls == 1


def test_broken_before_the_first_text_is_retried(fake: FakeModel) -> None:
    fake.script(Reply(break_after=0), Reply(content=["好"]))
    outcome = ask(fake, retry_budget_s=5)
    assert (outcome.error, outcome.content, fake.calls) == (None, "好", 2)


@pytest.mark.parametrize("headers", [True, False])
def test_a_hang_before_the_first_text_times_out(fake: FakeModel, headers: bool) -> None:
    fake.script(Hang(headers=headers))
    outcome = ask(fake, first_token_timeout_s=0.3, retry_budget_s=0)
    assert type(outcome.error) is ModelError
    assert str(outcome.error) == "the model sent nothing in 0.3 s (1 try)"
    assert 0.3 <= outcome.seconds < 2
    wait_until(lambda: fake.hanging == 0, "the fake sees the client leave")


def test_silence_after_the_first_text_is_broken(fake: FakeModel) -> None:
    # Each piece comes 0.6 s after the one before: the first is within its 5 s, the second
    # is past the 0.2 s of silence allowed after the first.
    fake.script(Reply(content=["一", "二", "三"], delay_s=0.6))
    outcome = ask(fake, first_token_timeout_s=5, idle_timeout_s=0.2)
    assert isinstance(outcome.error, ModelBroken)
    assert str(outcome.error) == "the model went silent for 0.2 s"
    assert outcome.content == "一"
    assert 0.8 <= outcome.seconds < 1.2
    wait_until(lambda: fake.disconnects == 1, "the fake sees the client leave")


def test_silence_while_the_reader_is_busy_is_not_the_models(fake: FakeModel) -> None:
    fake.script(Reply(content=["一", "二", "三"], delay_s=0.01))

    async def run() -> str:
        client = ModelClient(settings(fake, idle_timeout_s=0.2))
        text = ""
        async for item in client.stream("m", ASK):
            if isinstance(item, Chunk):
                text += item.content
                await asyncio.sleep(0.5)  # the consumer's own work: the model is not silent
        await client.aclose()
        return text

    assert asyncio.run(run()) == "一二三"


@pytest.mark.parametrize(
    "script",
    [
        Fail(400, message=f"Incorrect API key provided: {KEY}"),
        Fail(401, message=f"invalid key {KEY}!"),
        Fail(503, message=f"upstream rejected {KEY}"),
    ],
)
def test_the_key_is_never_in_an_error(fake: FakeModel, script: Fail) -> None:
    fake.default = script
    outcome = ask(fake, retry_budget_s=0.3)
    assert outcome.error is not None
    assert KEY not in str(outcome.error)
    assert KEY not in repr(outcome.error.args)
    assert "[key]" in str(outcome.error)


def test_cancelling_the_task_closes_the_response_at_once(fake: FakeModel) -> None:
    fake.script(Reply(content=chinese_pieces(200), delay_s=0.05))  # 10 s of reply

    async def run() -> float:
        client = ModelClient(settings(fake))
        first = asyncio.Event()

        async def read() -> None:
            async for item in client.stream("m", ASK):
                if isinstance(item, Chunk):
                    first.set()

        reading = asyncio.ensure_future(read())
        await first.wait()
        cancelled = time.monotonic()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        await until(lambda: fake.disconnects == 1, "the fake sees the client leave")
        await client.aclose()
        return time.monotonic() - cancelled

    assert asyncio.run(run()) < 1.0
    assert fake.calls == 1


def test_leaving_the_loop_closes_the_response_at_once(fake: FakeModel) -> None:
    fake.script(Reply(content=chinese_pieces(200), delay_s=0.05))

    async def run() -> None:
        client = ModelClient(settings(fake))
        async with contextlib.aclosing(client.stream("m", ASK)) as items:
            async for item in items:
                if isinstance(item, Chunk):
                    break
        await until(lambda: fake.disconnects == 1, "the fake sees the client leave", 1.0)
        await client.aclose()

    asyncio.run(run())


def test_concurrent_streams_share_one_client(fake: FakeModel) -> None:
    fake.default = Reply(content=chinese_pieces(50), delay_s=0.002)

    async def run() -> list[str]:
        client = ModelClient(settings(fake))

        async def one() -> str:
            text = ""
            async for item in client.stream("m", ASK):
                if isinstance(item, Chunk):
                    text += item.content
            return text

        texts = await asyncio.gather(*(one() for _ in range(50)))
        await client.aclose()
        return texts

    assert asyncio.run(run()) == ["".join(chinese_pieces(50))] * 50
    assert fake.calls == 50


STREAM = (
    ': keep-alive\n\nevent: message\nid: 1\ndata: {"choices":[{"delta":{"role":"assistant",'
    '"content":""}}]}\n\ndata:{"choices":[{"delta":{"reasoning_content":"想"},"finish_reason":null}'
    ']}\n\ndata: {"choices":[{"delta":{"content":"秋风"}}],"usage":null}\n\n'
    'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
    'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
    "data: [DONE]\n\n"
).encode()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_the_parser_at_every_cut_and_line_end(newline: bytes) -> None:
    """SSE allows three line ends, and a read may end anywhere (in a UTF-8 character too)."""
    stream = STREAM.replace(b"\n", newline)
    for i in range(len(stream) + 1):
        parser = Parser(think_tags=False)
        chunks = [parser.feed(stream[:i]), parser.feed(stream[i:])]
        got = [c for c in chunks if c is not None]
        assert "".join(c.content for c in got) == "秋风", i
        assert "".join(c.reasoning for c in got) == "想", i
        assert (parser.done, parser.finish_reason, parser.usage()) == (True, "stop", Usage(3, 2))


def test_a_data_field_on_two_lines_is_one_event() -> None:
    parser = Parser(think_tags=False)
    chunk = parser.feed(b'data: {"choices":[{"delta":\ndata: {"content":"a"}}]}\n\n')
    assert chunk == Chunk("a", "")
