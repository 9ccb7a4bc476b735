"""What a framework's history checks before it writes a turn: what huihua cannot store.

The LangChain and LlamaIndex histories raise ValueError, before anything is written, on a
turn of more than /add_chats takes, an attachment that is not a reference (a ``data:`` URL,
bytes: upload the file first), extras over ``meta``'s limit, and a message with no text
and nothing else. The server would refuse each (ok 1 or ok 6); here the caller learns which
message and why, and nothing of the turn is sent.
"""

from __future__ import annotations

from typing import Any

import msgspec

from huihua.wire.rules import CHATS_PER_CALL_MAX, PART_SCHEMES, Limits

META_MAX_BYTES = Limits().max_meta_bytes  # the server's default; a history can be told more


def check_turn_size(count: int) -> None:
    """Raise ValueError for a turn /add_chats cannot take in one call."""
    if count > CHATS_PER_CALL_MAX:
        raise ValueError(
            f"{count} messages in one turn: huihua writes at most {CHATS_PER_CALL_MAX} "
            "at once (all or none); add them in smaller turns"
        )


def check_url(url: Any, where: str) -> str:
    """Return ``url`` if huihua can keep it as an attachment; raise ValueError if not."""
    if not isinstance(url, str) or not url.startswith(PART_SCHEMES):
        shown = url[:30] + "…" if isinstance(url, str) and len(url) > 30 else url
        raise ValueError(
            f"{where}: {shown!r} is not an https: URL or a cloud:// file id; huihua keeps "
            "references, never file bytes: upload the file first and give its URL"
        )
    return url


def check_meta(meta: dict[str, Any] | None, where: str, max_bytes: int = META_MAX_BYTES) -> None:
    """Raise ValueError when ``meta`` is not JSON or over ``max_bytes`` as JSON."""
    if meta is None:
        return
    try:
        size = len(msgspec.json.encode(meta))
    except (TypeError, msgspec.EncodeError) as error:
        raise ValueError(f"{where}: its extras are not JSON: {error}") from error
    if size > max_bytes:
        raise ValueError(
            f"{where}: its ids and extras take {size} bytes as JSON; huihua's meta holds "
            f"at most {max_bytes}"
        )


def check_not_empty(chat: dict[str, Any], where: str) -> None:
    """Raise ValueError for a message with no text, no attachment and no tool call."""
    if not chat.get("msg") and not chat.get("parts") and not chat.get("tool_calls"):
        raise ValueError(f"{where}: no text, no attachment, no tool call: nothing to store")
