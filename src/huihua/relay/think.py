"""The reasoning a model writes into its content as a leading ``<think>…</think>``
(docs/api.md §8.1).

Some models (DeepSeek-R1 served by vLLM or Ollama without a reasoning parser, QwQ, Qwen3)
stream their reasoning as content wrapped in ``<think>`` tags. Where a setting says the model
writes it so, ``ThinkSplitter`` sends what lies between the tags to ``reasoning`` and the
rest to the text, whatever chunks the tags are cut across. Only a leading block counts:
content that does not begin (after whitespace) with ``<think>`` passes through as it is, so
a reply that merely mentions the tag is never swallowed.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"

_START = 0  # nothing decided yet: the content so far is whitespace or a prefix of <think>
_THINKING = 1  # inside the block
_AFTER_CLOSE = 2  # just past </think>: the whitespace that follows it is dropped
_TEXT = 3  # the rest is text, as it comes


class ThinkSplitter:
    """Splits a stream of content pieces into (text, reasoning) pairs."""

    __slots__ = ("_pending", "_state")

    def __init__(self) -> None:
        self._state = _START
        self._pending = ""

    def feed(self, content: str) -> tuple[str, str]:
        """Return the (text, reasoning) this piece of content settles."""
        state = self._state
        if state == _TEXT:
            return content, ""
        pending = self._pending + content
        self._pending = ""
        if state == _START:
            start = pending.lstrip()
            if len(start) < len(OPEN) and OPEN.startswith(start):
                self._pending = pending  # whitespace, or "<thi": wait for more
                return "", ""
            if not start.startswith(OPEN):
                self._state = _TEXT
                return pending, ""
            self._state = state = _THINKING
            pending = start[len(OPEN) :]
        if state == _THINKING:
            end = pending.find(CLOSE)
            if end < 0:
                # Keep back a tail that may be the start of a </think> cut across pieces.
                keep = _partial_close(pending)
                self._pending = pending[len(pending) - keep :] if keep else ""
                return "", pending[: len(pending) - keep]
            reasoning = pending[:end]
            pending = pending[end + len(CLOSE) :]
            self._state = _AFTER_CLOSE
        else:
            reasoning = ""
        text = pending.lstrip()
        if text:
            self._state = _TEXT
        return text, reasoning

    def flush(self) -> tuple[str, str]:
        """Return the (text, reasoning) held back, at the end of the stream."""
        pending, self._pending = self._pending, ""
        if self._state == _THINKING:
            return "", pending  # an unclosed block: all of it was reasoning
        if self._state == _START:
            return pending, ""  # "<thi" and the stream ended: it was text
        return "", ""


def _partial_close(text: str) -> int:
    """Return the length of the longest end of ``text`` that begins ``</think>``."""
    # </think> holds one "<", at its start: only the last "<" of the tail can begin it.
    start = text.rfind("<", max(0, len(text) - len(CLOSE) + 1))
    if start >= 0 and CLOSE.startswith(text[start:]):
        return len(text) - start
    return 0
