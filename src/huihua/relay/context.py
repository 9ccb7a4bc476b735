"""What a question is sent with (docs/api.md §8.1): the system prompt, the session's ``system``
messages, its newest finished messages that fit the context budget, then the question.

Tokens are estimated from the text, with no tokenizer: a character outside ASCII (a Chinese
character is about one token in the common models' vocabularies) counts one, and four ASCII
characters count one. Earlier replies' ``reasoning`` is never sent (DeepSeek refuses it).
``https:`` image parts go as image content parts; other parts, and ``cloud://`` ids (the
model cannot fetch them), as one line of text naming the attachment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

_decode_list = msgspec.json.Decoder(list[dict[str, Any]]).decode
PER_MESSAGE_TOKENS = 4  # the role and the separators each message costs
IMAGE_TOKENS = 800  # an image part, whatever its size (a rough middle of the providers)


def estimate_tokens(text: str) -> int:
    """Return an estimate of the tokens ``text`` holds."""
    if text.isascii():
        return (len(text) + 3) // 4
    wide = sum(1 for ch in text if ord(ch) > 127)
    return wide + (len(text) - wide + 3) // 4


def _content(msg: str, parts_json: str | None) -> str | list[dict[str, Any]]:
    """Return a user message's content: its text, or text and image parts."""
    if not parts_json:
        return msg
    pieces: list[dict[str, Any]] = []
    lines: list[str] = []
    for part in _decode_list(parts_json):
        url = str(part.get("url", ""))
        if part.get("type") == "image" and url.startswith("https:"):
            pieces.append({"type": "image_url", "image_url": {"url": url}})
        else:
            name = part.get("name") or url
            lines.append(f"[{part.get('type', 'file')} attached: {name}]")
    text = "\n".join([msg, *lines]) if msg else "\n".join(lines)
    if not pieces:
        return text
    return ([{"type": "text", "text": text}] if text else []) + pieces


def _cost(message: dict[str, Any]) -> int:
    content = message.get("content")
    tokens = PER_MESSAGE_TOKENS
    if isinstance(content, str):
        tokens += estimate_tokens(content)
    elif isinstance(content, list):
        for piece in content:
            text = piece.get("text")
            tokens += estimate_tokens(text) if text else IMAGE_TOKENS
    for call in message.get("tool_calls") or ():
        tokens += estimate_tokens(call["function"]["arguments"]) + PER_MESSAGE_TOKENS
    return tokens


def as_model_message(row: Sequence[Any]) -> dict[str, Any] | None:
    """Return a stored message (a row of ``q.CONTEXT_FIELDS``) as the model takes it, or
    None for one that is not sent (a ``system`` one, sent first; an unfinished reply)."""
    _seq, role, msg, parts, tool_calls, tool_call_id, name, status = row
    if status is not None or role == "system":  # only finished messages
        return None
    if role == "user":
        return {"role": "user", "content": _content(msg, parts)}
    if role == "tool":
        message: dict[str, Any] = {"role": "tool", "content": msg, "tool_call_id": tool_call_id}
        if name:
            message["name"] = name
        return message
    message = {"role": "assistant", "content": msg}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for call in _decode_list(tool_calls)
        ]
    return message


def build_context(
    *,
    system_prompt: str,
    system_messages: list[str],
    history: list[tuple[Any, ...]],
    question: tuple[Any, ...] | None,
    budget: int,
) -> tuple[list[dict[str, Any]], int]:
    """Return the messages to send and their estimated tokens.

    ``history``: the session's messages before the question, newest first (rows of
    ``q.CONTEXT_FIELDS``); ``question``: the question's row (None when ``regenerate``
    answers the last question of ``history`` again). The newest messages that fit the
    budget are kept (a tool result is never sent without the call before it: the model
    would refuse it), the system prompt and the question always.
    """
    head = [
        {"role": "system", "content": text} for text in (system_prompt, *system_messages) if text
    ]
    rows = list(history)
    if question is None:
        # regenerate: the newest user message of the history is the question
        for i, row in enumerate(rows):
            if row[1] == "user":
                question, rows = row, rows[i + 1 :]
                break
    last = as_model_message(question) if question is not None else None
    tokens = sum(_cost(m) for m in head) + (_cost(last) if last is not None else 0)
    kept: list[dict[str, Any]] = []
    for row in rows:
        message = as_model_message(row)
        if message is None:
            continue
        cost = _cost(message)
        if tokens + cost > budget:
            break
        tokens += cost
        kept.append(message)
    kept.reverse()
    while kept and kept[0]["role"] == "tool":  # its call was cut off: drop it too
        tokens -= _cost(kept.pop(0))
    return head + kept + ([last] if last is not None else []), tokens
