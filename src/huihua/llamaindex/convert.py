"""LlamaIndex chat messages to the messages of docs/api.md §5.1, and back.

- Roles: ``system`` ↔ ``system``, ``user`` ↔ ``user``, ``assistant`` ↔ ``ai``, ``tool`` ↔
  ``tool`` (``additional_kwargs["tool_call_id"]`` and ``["name"]`` as §5.1's fields);
  ``developer`` is kept as ``system``, ``chatbot`` and ``model`` as ``ai``, the role
  itself in ``meta``. ``function`` (OpenAI's retired role) has no place: ValueError.
- Blocks: ``TextBlock`` text is ``msg``; an ``ImageBlock`` by ``https:`` URL (or
  ``cloud://`` id) is a part; a ``ThinkingBlock`` is ``reasoning``; a ``ToolCallBlock``,
  and OpenAI-style ``additional_kwargs["tool_calls"]``, are ``tool_calls``. An image as
  bytes or a path, audio, video and documents raise ValueError: upload the file first.
- How the blocks were laid out, the other ``additional_kwargs`` and a block's other
  fields go under ``meta["llamaindex"]``, so that a message comes back equal to what was
  written (tool calls given as OpenAI's objects come back as dicts of the same shape).
"""

from __future__ import annotations

import json
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from huihua.client.turns import check_meta, check_not_empty, check_url

KEY = "llamaindex"
_ROLES = {"system": "system", "user": "user", "assistant": "ai", "tool": "tool"}
_KEPT_AS = {"developer": "system", "chatbot": "ai", "model": "ai"}
_BACK = {"system": MessageRole.SYSTEM, "user": MessageRole.USER, "ai": MessageRole.ASSISTANT}


def _plain(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else value


def to_chat(message: ChatMessage, where: str, meta_max: int) -> dict[str, Any]:
    """Return ``message`` as a message of /add_chats; raise ValueError if huihua cannot
    keep it."""
    role = str(message.role.value)
    if role not in _ROLES and role not in _KEPT_AS:
        raise ValueError(f"{where}: the role {role!r} has no place in huihua")
    chat: dict[str, Any] = {"role": _ROLES.get(role) or _KEPT_AS[role]}
    extra: dict[str, Any] = {"role": role} if role in _KEPT_AS else {}
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, str]] = []
    shapes: list[Any] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
            shapes.append(len(block.text))
        elif isinstance(block, ImageBlock):
            if block.image is not None or block.path is not None:
                check_url("bytes or a path", f"{where}: an image")
            part = {"type": "image", "url": check_url(str(block.url), f"{where}: an image")}
            if block.image_mimetype:
                part["mime"] = block.image_mimetype
            parts.append(part)
            shapes.append({"image": {"detail": block.detail}})
        elif isinstance(block, ThinkingBlock) and "reasoning" not in chat:
            chat["reasoning"] = block.content or ""
            rest = block.model_dump(exclude={"block_type", "content"})
            shapes.append({"thinking": rest})
        elif isinstance(block, ToolCallBlock):
            if block.tool_call_id is None:  # the contract's tool call has an id (ok 1)
                raise ValueError(f"{where}: a tool call without a tool_call_id")
            kwargs = block.tool_kwargs
            arguments = kwargs if isinstance(kwargs, str) else json.dumps(kwargs)
            calls.append(
                {"id": block.tool_call_id, "name": block.tool_name, "arguments": arguments}
            )
            shapes.append({"call": isinstance(kwargs, str)})
        else:
            raise ValueError(f"{where}: a {block.block_type!r} block: huihua keeps text and images")
    chat["msg"] = "".join(texts)
    if shapes != [len(chat["msg"])]:  # anything but one text block
        extra["blocks"] = shapes
    if parts:
        chat["parts"] = parts
    kwargs = dict(message.additional_kwargs)
    if chat["role"] == "ai" and kwargs.get("tool_calls"):
        openai_calls = [_plain(c) for c in kwargs.pop("tool_calls")]
        calls += [_from_openai(c, where) for c in openai_calls]
        extra["openai_tool_calls"] = len(openai_calls)
    if calls:
        chat["tool_calls"] = calls
    if chat["role"] == "tool":
        chat["tool_call_id"] = kwargs.pop("tool_call_id", None)
        if isinstance(kwargs.get("name"), str):
            chat["name"] = kwargs.pop("name")
        if not chat["tool_call_id"]:
            raise ValueError(f"{where}: a tool message needs additional_kwargs['tool_call_id']")
    if kwargs:
        extra["additional_kwargs"] = kwargs
    if extra:
        chat["meta"] = {KEY: extra}
        check_meta(chat["meta"], where, meta_max)
    check_not_empty(chat, where)
    return chat


def _from_openai(call: Any, where: str) -> dict[str, str]:
    try:
        return {
            "id": call["id"],
            "name": call["function"]["name"],
            "arguments": call["function"]["arguments"],
        }
    except (KeyError, TypeError) as error:
        raise ValueError(f"{where}: a tool call not in OpenAI's shape: {call!r}") from error


def from_chat(chat: Any) -> ChatMessage:
    """Return the LlamaIndex message of a message read from huihua (a ChatOut)."""
    meta = chat.meta if isinstance(chat.meta, dict) else {}
    extra = meta.get(KEY) if isinstance(meta.get(KEY), dict) else None
    if extra is None:
        extra = {"additional_kwargs": {"meta": meta}} if meta else {}
    kwargs = dict(extra.get("additional_kwargs", {}))
    calls = list(chat.tool_calls or [])
    openai_count = extra.get("openai_tool_calls", 0)
    block_calls = calls[: len(calls) - openai_count]
    if openai_count:
        kwargs["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls[len(calls) - openai_count :]
        ]
    if chat.role == "tool":
        kwargs["tool_call_id"] = chat.tool_call_id
        if chat.name:
            kwargs["name"] = chat.name
    role = extra.get("role") or (MessageRole.TOOL if chat.role == "tool" else _BACK[chat.role])
    shapes = extra.get("blocks", [len(chat.msg)])
    if "blocks" not in extra and chat.parts:  # another client's: the text, then the images
        shapes = [len(chat.msg)] + [{"image": {"detail": None}}] * len(chat.parts)
    blocks = _blocks(chat, shapes, block_calls)
    return ChatMessage(role=role, blocks=blocks, additional_kwargs=kwargs)


def _blocks(chat: Any, shapes: list[Any], calls: list[dict[str, str]]) -> list[Any]:
    blocks: list[Any] = []
    images, tools = iter(chat.parts or []), iter(calls)
    at = 0
    for shape in shapes:
        if isinstance(shape, int):
            blocks.append(TextBlock(text=chat.msg[at : at + shape]))
            at += shape
        elif "image" in shape:
            part = next(images)
            blocks.append(
                ImageBlock(url=part["url"], image_mimetype=part.get("mime"), **shape["image"])
            )
        elif "thinking" in shape:
            blocks.append(ThinkingBlock(content=chat.reasoning, **shape["thinking"]))
        else:
            call = next(tools)
            kwargs = call["arguments"] if shape["call"] else json.loads(call["arguments"])
            blocks.append(
                ToolCallBlock(tool_call_id=call["id"], tool_name=call["name"], tool_kwargs=kwargs)
            )
    return blocks
