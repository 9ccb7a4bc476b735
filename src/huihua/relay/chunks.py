"""A model's stream, read: ``data:`` events out of the body's bytes, into huihua's chunks.

Each ``data:`` payload is decoded by msgspec into structs holding only the fields huihua
keeps (msgspec skips every other); the events that arrive in one read of the socket are
merged into one ``Chunk``. ``reasoning_content`` (DeepSeek, Qwen, Moonshot) and
``reasoning`` (OpenRouter, vLLM) go to the reply's reasoning, and so does a leading
``<think>`` block when the setting asks for it (think.py). bench/chunk_parse.py measures
this reader against the ``openai`` package and httpx-sse (figures in bench/README.md).
"""

from __future__ import annotations

import msgspec

from .think import ThinkSplitter

REASON_CHARS = 200  # the most of a model's own error message a reason quotes


class Chunk(msgspec.Struct):
    """Text the model sent: to append to the reply's ``msg``, to its ``reasoning``, or both."""

    content: str = ""
    reasoning: str = ""


class Usage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int


class Ended(msgspec.Struct):
    """The stream's end: its finish reason, and its usage (None when it sent none)."""

    finish_reason: str | None
    usage: Usage | None


# What huihua reads of a chat.completion.chunk; msgspec skips every other field.
class _Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None  # DeepSeek, Qwen, Moonshot
    reasoning: str | None = None  # OpenRouter, vLLM


class _WireUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: str | None = None
    usage: _WireUsage | None = None  # Moonshot sends it in the last choice


class _ErrorDetail(msgspec.Struct):
    message: str | None = None


class _Event(msgspec.Struct):
    choices: list[_Choice] | None = None
    usage: _WireUsage | None = None
    error: _ErrorDetail | str | None = None  # a gateway's error, mid-stream


class _ErrorBody(msgspec.Struct):
    error: _ErrorDetail | str | None = None
    message: str | None = None
    detail: str | None = None


_decode_event = msgspec.json.Decoder(_Event).decode
decode_error = msgspec.json.Decoder(_ErrorBody).decode


class BadChunk(Exception):
    """The stream sent an event huihua cannot read, or an error event."""


class Parser:
    """Reads ``data:`` events out of the body's bytes, keeping the end and the usage."""

    __slots__ = ("_cr", "_data", "_rest", "_think", "_usage", "done", "finish_reason")

    def __init__(self, think_tags: bool) -> None:
        self._rest = b""  # an unfinished line
        self._cr = False  # the last read ended with \r: a \n opening the next one is its pair
        self._data: bytes | None = None  # the data of the event being read
        self._think = ThinkSplitter() if think_tags else None
        self._usage: _WireUsage | None = None
        self.done = False  # [DONE] came
        self.finish_reason: str | None = None

    def feed(self, data: bytes) -> Chunk | None:
        """Return the text of the events this read completes (None: none had text)."""
        if b"\r" in data or self._cr:
            data = self._newlines(data)
        if self._rest:
            data = self._rest + data
            self._rest = b""
        # A model's chunk mostly comes alone in a read, whole: "data: {...}\n\n".
        if (
            self._data is None
            and data.startswith(b"data: ")
            and data.find(b"\n") == len(data) - 2
            and data.endswith(b"\n\n")
        ):
            payloads: list[bytes] = [data[6:-2]]
        else:
            payloads = self._payloads(data)
        content = reasoning = ""
        for payload in payloads:
            if payload == b"[DONE]":
                self.done = True
                break
            try:
                event = _decode_event(payload)
            except msgspec.MsgspecError as exc:
                raise BadChunk(f"the model sent a chunk huihua cannot read ({exc})") from None
            if event.error is not None:
                raise BadChunk(f"the model sent an error: {clip(detail(event.error))}")
            if event.choices:
                choice = event.choices[0]
                delta = choice.delta
                if delta is not None:
                    if delta.content:
                        content += delta.content
                    thought = delta.reasoning_content or delta.reasoning
                    if thought:
                        reasoning += thought
                if choice.finish_reason is not None:
                    self.finish_reason = choice.finish_reason
                if choice.usage is not None:
                    self._usage = choice.usage
            if event.usage is not None:
                self._usage = event.usage
        if content and self._think is not None:
            content, thought = self._think.feed(content)
            reasoning += thought
        if content or reasoning:
            return Chunk(content, reasoning)
        return None

    def _payloads(self, data: bytes) -> list[bytes]:
        """Return the data of the events ``data`` completes; keep what it leaves unfinished."""
        lines = data.split(b"\n")
        self._rest = lines.pop()
        payloads = []
        for line in lines:
            if line:
                if line.startswith(b"data:"):
                    value = line[6:] if line[5:6] == b" " else line[5:]
                    self._data = value if self._data is None else self._data + b"\n" + value
                # comments (": keep-alive"), event:, id:, retry: say nothing huihua uses
            elif self._data is not None:
                payloads.append(self._data)
                self._data = None
        return payloads

    def flush(self) -> Chunk | None:
        """Return the text the think splitter held back, at the end (None: nothing)."""
        if self._think is None:
            return None
        content, reasoning = self._think.flush()
        return Chunk(content, reasoning) if content or reasoning else None

    def usage(self) -> Usage | None:
        """Return the usage the stream reported, if it did."""
        usage = self._usage
        if usage is None or usage.prompt_tokens is None or usage.completion_tokens is None:
            return None
        return Usage(usage.prompt_tokens, usage.completion_tokens)

    def _newlines(self, data: bytes) -> bytes:
        """Return ``data`` with \r\n and \r as \n (SSE allows all three line ends)."""
        if self._cr and data.startswith(b"\n"):
            data = data[1:]
        self._cr = data.endswith(b"\r")
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def detail(error: _ErrorDetail | str) -> str:
    return error if isinstance(error, str) else error.message or ""


def clip(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"
