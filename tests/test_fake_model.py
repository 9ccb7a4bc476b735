"""The fake model (fake_model.py) speaks OpenAI's chat completions as the official client reads it.

If the fake drifted from the real wire format, the model client's tests would pass against a
server no model is; here the ``openai`` package, which every provider is tested against,
parses each scripted answer.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from .conftest import free_port
from .fake_model import FakeModel
from .fake_script import POEM, Fail, Hang, Reply, chinese_pieces, until, wait_until
from .model_client_cases import fake as fake  # a fixture: pytest finds it by name
from .model_client_cases import server as server  # a fixture: pytest finds it by name

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-fake-0123456789"
ASK: list[Any] = [{"role": "user", "content": "写一首秋天的诗"}]


def client(fake: FakeModel, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0, **options)


def chunks(fake: FakeModel, *, include_usage: bool = True) -> list[ChatCompletionChunk]:
    """Return the chunks the openai package parsed of one streamed call."""
    options: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = client(fake).chat.completions.create(
        model="deepseek-chat", messages=ASK, stream=True, **options
    )
    return list(stream)


def text(parsed: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)


@pytest.mark.parametrize("finish_reason", ["stop", "length"])
def test_text_finish_reason_and_usage_as_openai_reads_them(
    fake: FakeModel, finish_reason: str
) -> None:
    fake.script(
        Reply(
            content=["秋风", "清，", "秋月明"],
            finish_reason=finish_reason,
            prompt_tokens=31,
            completion_tokens=120,
        )
    )
    parsed = chunks(fake)
    assert parsed[0].choices[0].delta.role == "assistant"
    assert text(parsed) == "秋风清，秋月明"
    assert [c.choices[0].finish_reason for c in parsed if c.choices][-1] == finish_reason
    assert all(c.object == "chat.completion.chunk" and c.model == "deepseek-chat" for c in parsed)
    last = parsed[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (31, 120)
    assert last.usage.total_tokens == 151
    assert all(c.usage is None for c in parsed[:-1])


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_comes_first_in_its_field(fake: FakeModel, field: str) -> None:
    fake.script(
        Reply(reasoning=["用户", "想要", "诗"], content=["秋", "风"], reasoning_field=field)
    )
    parsed = chunks(fake)
    reasoning = [getattr(c.choices[0].delta, field, None) for c in parsed if c.choices]
    assert "".join(r for r in reasoning if r) == "用户想要诗"
    extras = [c.choices[0].delta.model_extra or {} for c in parsed if c.choices]
    assert [e[field] for e in extras if e.get(field)] == ["用户", "想要", "诗"]
    assert text(parsed) == "秋风"
    # The reasoning pieces all come before the first content piece.
    kinds = [
        "r" if getattr(c.choices[0].delta, field, None) else "c"
        for c in parsed
        if c.choices and (c.choices[0].delta.content or getattr(c.choices[0].delta, field, None))
    ]
    assert kinds == ["r", "r", "r", "c", "c"]


def test_think_tags_are_content_as_the_model_writes_them(fake: FakeModel) -> None:
    pieces = ["<th", "ink>想", "想</thi", "nk>\n\n", "答案"]
    fake.script(Reply(content=pieces))
    assert text(chunks(fake)) == "<think>想想</think>\n\n答案"


def test_no_usage_chunk_unless_asked_and_scripted(fake: FakeModel) -> None:
    fake.script(Reply(), Reply(send_usage=False))
    for parsed in (chunks(fake, include_usage=False), chunks(fake)):
        assert all(c.choices for c in parsed)
        assert all(c.usage is None for c in parsed)
        assert text(parsed) == "你好，世界"
    assert "stream_options" not in fake.requests[0]
    assert fake.requests[1]["stream_options"] == {"include_usage": True}


def test_records_bodies_keys_and_paths(fake: FakeModel) -> None:
    chunks(fake)
    without_v1 = openai.OpenAI(base_url=fake.base, api_key="sk-other", max_retries=0)
    list(without_v1.chat.completions.create(model="qwen-plus", messages=ASK, stream=True))
    keyless = httpx.post(fake.base_url + "/chat/completions", json={"model": "local"})
    assert keyless.status_code == 200
    assert fake.calls == 3
    assert fake.paths == ["/v1/chat/completions", "/chat/completions", "/v1/chat/completions"]
    assert fake.keys == [KEY, "sk-other", None]
    assert fake.requests[0]["messages"] == ASK
    assert fake.requests[0]["stream"] is True
    assert fake.requests[1]["model"] == "qwen-plus"
    assert fake.requests[2] == {"model": "local"}


def test_the_default_answers_once_the_queue_is_empty(fake: FakeModel) -> None:
    fake.default = Reply(content=["默认"])
    fake.script(Reply(content=["第一"]))
    assert [text(chunks(fake)) for _ in range(3)] == ["第一", "默认", "默认"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, openai.RateLimitError),
        (503, openai.InternalServerError),
        (500, openai.InternalServerError),
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
    ],
)
def test_errors_are_the_exceptions_openai_raises(
    fake: FakeModel, status: int, error: type[openai.APIStatusError]
) -> None:
    fake.script(Fail(status, message=f"refused {status}", retry_after=7))
    with pytest.raises(error) as raised:
        chunks(fake)
    assert raised.value.status_code == status
    assert f"refused {status}" in raised.value.message
    assert raised.value.response.headers["retry-after"] == "7"


def test_failures_then_success_as_openai_retries_them(fake: FakeModel) -> None:
    fake.script(Fail(429, retry_after=0.05), Fail(503, retry_after=0.05), Reply(content=["好"]))
    retrying = openai.OpenAI(base_url=fake.base_url, api_key=KEY, max_retries=2)
    stream = retrying.chat.completions.create(model="m", messages=ASK, stream=True)
    assert text(list(stream)) == "好"
    assert fake.calls == 3


def test_a_broken_stream_ends_after_its_chunks_without_done(fake: FakeModel) -> None:
    fake.script(Reply(content=["一", "二", "三", "四", "五"], break_after=3))
    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client(fake).chat.completions.create(model="m", messages=ASK, stream=True):
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "一二三"


def test_chunks_come_no_faster_than_the_delay(fake: FakeModel) -> None:
    fake.script(Reply(content=["一", "二", "三", "四", "五"], delay_s=0.05))
    started = time.monotonic()
    assert text(chunks(fake)) == "一二三四五"
    assert time.monotonic() - started >= 5 * 0.05


def test_a_hang_with_headers_times_out_the_reader_and_ends_on_release(fake: FakeModel) -> None:
    fake.script(Hang(), Hang())
    with pytest.raises(openai.APITimeoutError):
        chunks_with_timeout = client(fake, timeout=0.3).chat.completions.create(
            model="m", messages=ASK, stream=True
        )
        list(chunks_with_timeout)
    wait_until(lambda: fake.hanging == 0, "the fake sees the reader leave")

    async def released() -> None:
        reader = openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)
        stream = await reader.chat.completions.create(model="m", messages=ASK, stream=True)
        await until(lambda: fake.hanging == 1, "the request hangs")
        fake.release()
        with pytest.raises(openai.APIConnectionError):
            async for _ in stream:
                pass
        await reader.close()

    asyncio.run(released())
    assert fake.hanging == 0


def test_a_hang_without_headers_answers_503_on_release(fake: FakeModel) -> None:
    fake.script(Hang(headers=False))

    async def released() -> None:
        reader = openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)
        asking = asyncio.ensure_future(
            reader.chat.completions.create(model="m", messages=ASK, stream=True)
        )
        await until(lambda: fake.hanging == 1, "the request hangs")
        assert not asking.done()
        fake.release()
        with pytest.raises(openai.InternalServerError):
            await asking
        await reader.close()

    asyncio.run(released())


def test_a_reader_that_leaves_is_counted(fake: FakeModel) -> None:
    fake.script(Reply(content=chinese_pieces(200), delay_s=0.02))
    stream = client(fake).chat.completions.create(model="m", messages=ASK, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    wait_until(lambda: fake.disconnects == 1, "the fake sees the reader leave")


def test_async_client_reads_the_same_stream(fake: FakeModel) -> None:
    fake.script(Reply(reasoning=["想"], content=chinese_pieces(20), delay_s=0.001))

    async def read() -> tuple[str, str, Any]:
        reader = openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)
        stream = await reader.chat.completions.create(
            model="m", messages=ASK, stream=True, stream_options={"include_usage": True}
        )
        content = reasoning = ""
        usage = None
        async for chunk in stream:
            if chunk.choices:
                content += chunk.choices[0].delta.content or ""
                reasoning += getattr(chunk.choices[0].delta, "reasoning_content", None) or ""
            usage = chunk.usage or usage
        await reader.close()
        return content, reasoning, usage

    content, reasoning, usage = asyncio.run(read())
    assert (content, reasoning) == ("".join(chinese_pieces(20)), "想")
    assert (usage.prompt_tokens, usage.completion_tokens) == (11, 21)


def test_a_plain_answer_when_not_streamed(fake: FakeModel) -> None:
    fake.script(Reply(reasoning=["想", "想"], content=["秋", "风"], finish_reason="length"))
    answer = client(fake).chat.completions.create(model="deepseek-reasoner", messages=ASK)
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == "秋风"
    assert (answer.choices[0].message.model_extra or {})["reasoning_content"] == "想想"
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 4


def test_pieces_are_one_to_three_chinese_characters() -> None:
    pieces = chinese_pieces(1000)
    assert len(pieces) == 1000
    assert {len(p) for p in pieces} == {1, 2, 3}
    assert set("".join(pieces)) == set(POEM)


def test_runs_as_a_process_of_its_own() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_model", "--port", str(port), "--chunks", "50"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == f"fake model listening on http://127.0.0.1:{port}/v1"
        reader = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY)
        stream = reader.chat.completions.create(model="m", messages=ASK, stream=True)
        assert text(list(stream)) == "".join(chinese_pieces(50))
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
