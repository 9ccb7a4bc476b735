"""LangChain messages to the messages of docs/api.md §5.1, and back, exactly.

- ``SystemMessage`` ↔ ``system``; ``HumanMessage`` ↔ ``user``; ``AIMessage`` ↔ ``ai``, its
  ``tool_calls`` as §5.1's ``{id, name, arguments}`` (the args JSON-encoded) and
  ``additional_kwargs["reasoning_content"]`` (DeepSeek-R1's) as ``reasoning``;
  ``ToolMessage`` ↔ ``tool`` with its ``tool_call_id`` and ``name``.
- Content: a string is ``msg``. A list of text and image blocks puts the text in ``msg``
  and the images, given by ``https:`` URL or ``cloud://`` id, in ``parts``; how the list
  was laid out (block types, their order, their other keys) goes in ``meta`` so that it
  comes back as it was. Image blocks: OpenAI's ``{"type": "image_url", "image_url":
  {"url": …}}`` (or the URL as a string) and LangChain's ``{"type": "image", "url": …}``.
- Everything else LangChain keeps on a message (``id``, ``name``, ``additional_kwargs``,
  ``response_metadata``, ``usage_metadata``, ``invalid_tool_calls``, a tool's ``status``
  and ``artifact``) goes, when set, under ``meta["langchain"]``.

A message read back that some other client wrote has no ``meta["langchain"]``: its ``meta``
comes back as ``additional_kwargs["meta"]``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from huihua.client.turns import check_meta, check_not_empty, check_url

KEY = "langchain"  # the key of meta that holds what LangChain keeps besides
_ROLES = (
    (ToolMessage, "tool"),
    (AIMessage, "ai"),
    (HumanMessage, "user"),
    (SystemMessage, "system"),
)
_REASONING = "reasoning_content"


def to_chat(message: BaseMessage, where: str, meta_max: int) -> dict[str, Any]:
    """Return ``message`` as a message of /add_chats; raise ValueError if huihua cannot
    keep it (an image as bytes or a ``data:`` URL, extras over ``meta``'s limit, …)."""
    role = next((r for cls, r in _ROLES if isinstance(message, cls)), None)
    if role is None:
        raise ValueError(f"{where}: a {type(message).__name__} has no role in huihua")
    chat: dict[str, Any] = {"role": role}
    extra: dict[str, Any] = {}
    if isinstance(message.content, str):
        chat["msg"] = message.content
    else:
        chat["msg"], parts, extra["blocks"] = _from_blocks(message.content, where)
        if parts:
            chat["parts"] = parts
    kwargs = dict(message.additional_kwargs)
    if isinstance(message, AIMessage):
        if isinstance(kwargs.get(_REASONING), str) and kwargs[_REASONING]:
            chat["reasoning"] = kwargs.pop(_REASONING)
        if message.tool_calls:
            chat["tool_calls"] = [_tool_call(c, where) for c in message.tool_calls]
        if message.usage_metadata:
            extra["usage_metadata"] = dict(message.usage_metadata)
        if message.invalid_tool_calls:
            extra["invalid_tool_calls"] = [dict(c) for c in message.invalid_tool_calls]
    if isinstance(message, ToolMessage):
        chat["tool_call_id"] = message.tool_call_id
        if message.name:
            chat["name"] = message.name
        if message.status != "success":
            extra["status"] = message.status
        if message.artifact is not None:
            extra["artifact"] = message.artifact
    elif message.name is not None:
        extra["name"] = message.name
    if message.id is not None:
        extra["id"] = message.id
    if kwargs:
        extra["additional_kwargs"] = kwargs
    if message.response_metadata:
        extra["response_metadata"] = dict(message.response_metadata)
    if extra:
        chat["meta"] = {KEY: extra}
        check_meta(chat["meta"], where, meta_max)
    check_not_empty(chat, where)
    return chat


def _tool_call(call: Any, where: str) -> dict[str, str]:
    if not call.get("id"):
        raise ValueError(f"{where}: tool call {call.get('name')!r} has no id")
    return {"id": call["id"], "name": call["name"], "arguments": json.dumps(call["args"])}


def _image_url(block: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Return the block's URL and the block without it (its shape)."""
    shape = copy.deepcopy(block)
    if block.get("type") == "image_url":
        inner = block.get("image_url")
        if isinstance(inner, dict):
            return shape["image_url"].pop("url", None), shape
        shape["image_url"] = None
        return inner, shape
    if "url" in block:
        return shape.pop("url"), shape
    return None, shape  # base64 or a file id: bytes huihua does not keep


def _from_blocks(blocks: list[Any], where: str) -> tuple[str, list[dict[str, Any]], list[Any]]:
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    shapes: list[Any] = []
    for block in blocks:
        if isinstance(block, str):
            texts.append(block)
            shapes.append(len(block))
        elif isinstance(block, dict) and block.get("type") == "text":
            texts.append(block["text"])
            shape = {k: v for k, v in block.items() if k != "text"}
            shapes.append([len(block["text"]), shape])
        elif isinstance(block, dict) and block.get("type") in ("image_url", "image"):
            url, shape = _image_url(block)
            part = {"type": "image", "url": check_url(url, f"{where}: an image")}
            if isinstance(block.get("mime_type"), str):
                part["mime"] = block["mime_type"]
            parts.append(part)
            shapes.append(shape)
        else:
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise ValueError(
                f"{where}: a content block of type {kind!r}: huihua keeps text and images"
            )
    return "".join(texts), parts, shapes


def _to_blocks(msg: str, parts: list[dict[str, Any]], shapes: list[Any]) -> list[Any]:
    blocks: list[Any] = []
    images = iter(parts)
    at = 0
    for shape in shapes:
        if isinstance(shape, int):  # a bare string
            blocks.append(msg[at : at + shape])
            at += shape
        elif isinstance(shape, list):  # a text block: its length, its other keys
            length, rest = shape
            blocks.append({**rest, "text": msg[at : at + length]})
            at += length
        else:
            url = next(images)["url"]
            block = copy.deepcopy(shape)
            if block.get("type") == "image_url" and isinstance(block.get("image_url"), dict):
                block["image_url"]["url"] = url
            elif block.get("type") == "image_url":
                block["image_url"] = url
            else:
                block["url"] = url
            blocks.append(block)
    return blocks


def from_chat(chat: Any) -> BaseMessage:
    """Return the LangChain message of a message read from huihua (a ChatOut)."""
    meta = chat.meta if isinstance(chat.meta, dict) else {}
    extra = meta.get(KEY) if isinstance(meta.get(KEY), dict) else None
    if extra is None:
        extra = {"additional_kwargs": {"meta": meta}} if meta else {}
    content: Any = chat.msg
    if "blocks" in extra:
        content = _to_blocks(chat.msg, chat.parts or [], extra["blocks"])
    elif chat.parts:  # written by another client: text, then the images
        images = [{"type": "image_url", "image_url": {"url": p["url"]}} for p in chat.parts]
        content = ([{"type": "text", "text": chat.msg}] if chat.msg else []) + images
    common: dict[str, Any] = {
        "content": content,
        "additional_kwargs": dict(extra.get("additional_kwargs", {})),
        "response_metadata": extra.get("response_metadata", {}),
        "id": extra.get("id"),
    }
    if chat.role == "tool":
        return ToolMessage(
            **common,
            tool_call_id=chat.tool_call_id,
            name=chat.name or None,
            status=extra.get("status", "success"),
            artifact=extra.get("artifact"),
        )
    common["name"] = extra.get("name")
    if chat.role == "ai":
        if chat.reasoning:
            common["additional_kwargs"][_REASONING] = chat.reasoning
        calls, invalid = _tool_calls(chat.tool_calls or [])
        return AIMessage(
            **common,
            tool_calls=calls,
            invalid_tool_calls=extra.get("invalid_tool_calls", []) + invalid,
            usage_metadata=extra.get("usage_metadata"),
        )
    if chat.role == "system":
        return SystemMessage(**common)
    return HumanMessage(**common)


def _tool_calls(stored: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """Return the stored calls as LangChain's tool calls, and those whose arguments are not
    a JSON object (another client wrote them) as its invalid tool calls."""
    calls, invalid = [], []
    for c in stored:
        try:
            args = json.loads(c["arguments"])
        except ValueError:
            args = None
        if isinstance(args, dict):
            calls.append({"name": c["name"], "args": args, "id": c["id"], "type": "tool_call"})
        else:
            invalid.append(
                {
                    "name": c["name"],
                    "args": c["arguments"],
                    "id": c["id"],
                    "error": "arguments: not a JSON object",
                    "type": "invalid_tool_call",
                }
            )
    return calls, invalid
