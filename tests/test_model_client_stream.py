"""The model client reads text, reasoning (think tags too) and the usage as they come."""

from __future__ import annotations

import itertools

import pytest

from huihua.relay.chunks import Chunk, Ended, Parser, Usage
from huihua.relay.think import ThinkSplitter

from .fake_model import FakeModel
from .fake_script import Reply, chinese_pieces
from .model_client_cases import ASK, KEY, ask
from .model_client_cases import fake as fake  # a fixture: pytest finds it by name
from .model_client_cases import server as server  # a fixture: pytest finds it by name


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
