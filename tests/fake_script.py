"""What the fake model (fake_model.py) answers, one script item a call, and the waits on it."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# A classical poem cut into the 1-3 character pieces DeepSeek streams Chinese in.
POEM = (
    "秋风清，秋月明，落叶聚还散，寒鸦栖复惊。相思相见知何日？此时此夜难为情！"
    "入我相思门，知我相思苦，长相思兮长相忆，短相思兮无穷极。"
)


@dataclass(frozen=True)
class Reply:
    """A streamed answer: the role chunk, reasoning pieces, content pieces, the end.

    ``break_after``: the connection closes after that many text chunks, without a finish
    chunk, usage or ``[DONE]``. ``completion_tokens`` None: the number of pieces sent.
    """

    content: Sequence[str] = ("你好", "，", "世界")
    reasoning: Sequence[str] = ()
    reasoning_field: str = "reasoning_content"  # "reasoning" as OpenRouter and vLLM send it
    delay_s: float = 0.0
    finish_reason: str | None = "stop"
    send_usage: bool = True  # when the request asks for it (stream_options.include_usage)
    prompt_tokens: int = 11
    completion_tokens: int | None = None
    break_after: int | None = None
    done: bool = True  # the final "data: [DONE]"


@dataclass(frozen=True)
class Fail:
    """An error answer with OpenAI's error body; ``retry_after`` in seconds sets the header."""

    status: int = 503
    message: str = "the fake model is overloaded"
    retry_after: float | None = None


@dataclass(frozen=True)
class Hang:
    """Headers then nothing (``headers=True``), or nothing at all, until ``release()``.

    Released, a hang with headers closes the connection (a broken stream); one without
    answers 503. A client that leaves ends it too.
    """

    headers: bool = True


Script = Reply | Fail | Hang


def chinese_pieces(n: int) -> list[str]:
    """Return ``n`` pieces of 1-3 Chinese characters, as DeepSeek streams them."""
    text = itertools.cycle(POEM)
    sizes = itertools.cycle((1, 2, 3, 2, 1, 2))
    return ["".join(itertools.islice(text, size)) for size in itertools.islice(sizes, n)]


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Return once ``condition()`` holds; fail the test if it does not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.005)


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """As ``wait_until``, in a running event loop."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(0.005)
