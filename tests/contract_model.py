"""The in-memory model of the contract that test_model.py holds the server to, and its inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from hypothesis import strategies as st

# The model's own version of API.md §3's title rule (not the server's function).
TITLE_CHARS = 30


def title_of(msg: str) -> str:
    text = " ".join(msg.split())
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS] + "…"


# -- the model ------------------------------------------------------------------------------


@dataclass
class Chat:
    role: str
    msg: str
    seq: int
    created_at: str
    meta: dict[str, Any] | None


@dataclass
class Session:
    title: str
    created_at: str
    updated_at: str
    chats: list[Chat] = field(default_factory=list)
    pinned: int | None = None  # the model's count of pins when it was pinned (None: not)


@dataclass
class User:
    user_name: str
    sessions: dict[str, Session] = field(default_factory=dict)


@dataclass
class Record:
    """A write's idempotency record: the request as made (its id left out), its reply."""

    fingerprint: Any
    reply: dict[str, Any]


Outcome = tuple[int, dict[str, Any], "Callable[[dict[str, Any]], Any] | None"]
Work = Callable[[], Outcome]


def fingerprint(path: str, body: dict[str, Any]) -> Any:
    """The request as made, its request_id left out; an absent field and null are one."""
    kept = {k: v for k, v in body.items() if k != "request_id" and v is not None}
    return (path, msgspec.json.encode(kept, order="sorted"))


# -- what the machine sends -----------------------------------------------------------------

TEXT = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=45,
)
MSGS = st.one_of(
    st.sampled_from(["hello", "  \t\n ", "  two   words  ", "x" * 31, "你好，世界" * 8]),
    TEXT,
)
ROLES = st.sampled_from(["user", "user", "ai"])
REQUEST_IDS = st.sampled_from([None, None, None, *(f"r{i}" for i in range(1, 9))])
CLIENT_SESSIONS = st.sampled_from(["s1", "s2", "s-3_x"])
META = st.sampled_from([None, {"model": "m1", "tokens": 12}, {"k": ["v", 1.5, None, True]}])
TITLES = st.sampled_from([None, "", "my title", "标题"])
