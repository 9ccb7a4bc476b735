"""WeChat's content check, ``msgSecCheck`` version 2 (docs/api.md §8.6), and whose openid a
text is checked under.

Every outcome is a :class:`Verdict`: ``pass``, ``review``, ``risky`` (WeChat's
``result.suggest``: risky text is errcode 0), or ``unchecked`` when WeChat could not judge:
unreachable, an error, a user with no openid, or one it has not seen lately (61010). What an
unchecked text becomes is the caller's (``wechat_check_unreachable``). A text longer than
:data:`PIECE_CHARS` goes in pieces; the worst verdict counts.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from huihua.wechat.api import Refused, Unreachable, WeChatApi

log = logging.getLogger("huihua.wechat")

PATH = "/wxa/msg_sec_check"
PIECE_CHARS = 2_500  # WeChat's limit, counted here in UTF-16 units (a JavaScript length)
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_RANK = {"pass": 0, "review": 1, "unchecked": 2, "risky": 3}


@dataclass(frozen=True)
class Verdict:
    """What the check said of a text."""

    suggest: str  # pass, review, risky, or unchecked
    label: int | None = None
    trace_id: str | None = None
    reason: str = ""  # why it is unchecked

    def note(self) -> dict[str, Any]:
        """Return what a message's ``meta.check`` keeps of it."""
        if self.suggest == "unchecked":
            return {"suggest": "unchecked", "reason": self.reason}
        return {"suggest": self.suggest, "label": self.label, "trace_id": self.trace_id}


def openid_of(user_id: str, profile: str | bytes | None) -> str | None:
    """Return the openid a user's texts are checked under: the profile's ``openid`` field,
    else the user id when it can be one (a /login user's id is its openid); None."""
    if profile:
        try:
            fields = msgspec.json.decode(profile)
        except msgspec.DecodeError:
            fields = None
        if isinstance(fields, dict):
            openid = fields.get("openid")
            if isinstance(openid, str) and _OPENID.fullmatch(openid):
                return openid
    return user_id if _OPENID.fullmatch(user_id) else None


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    """Return ``text`` cut into pieces of at most ``size`` UTF-16 units."""
    out = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        while _units(text[start:end]) > size:  # characters beyond U+FFFF count two
            end -= max(1, (_units(text[start:end]) - size) // 2)
        out.append(text[start:end])
        start = end
    return out


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def worst(verdicts: list[Verdict]) -> Verdict:
    """Return the verdict that counts of several pieces' (risky over unchecked over review
    over pass)."""
    return max(verdicts, key=lambda v: _RANK[v.suggest], default=Verdict("pass"))


class ContentCheck:
    """Checks texts for one app and scene."""

    def __init__(self, api: WeChatApi, scene: int) -> None:
        self.api = api
        self.scene = scene

    async def judge(self, text: str, openid: str | None) -> Verdict:
        """Return the verdict on ``text`` (any length: in pieces, at once)."""
        parts = pieces(text)
        if len(parts) <= 1:
            return await self.judge_piece(text, openid)
        return worst(list(await asyncio.gather(*(self.judge_piece(p, openid) for p in parts))))

    async def judge_piece(self, text: str, openid: str | None) -> Verdict:
        """Return the verdict on one piece of at most :data:`PIECE_CHARS`."""
        if not text.strip():
            return Verdict("pass")
        if openid is None:
            return Verdict("unchecked", reason="the user has no openid")
        body = {"content": text, "version": 2, "scene": self.scene, "openid": openid}
        try:
            reply = await self.api.call(PATH, body)
        except Unreachable as error:
            return Verdict("unchecked", reason=f"WeChat unreachable ({error})")
        except Refused as error:
            if error.errcode == 61010:
                why = "WeChat has not seen the user lately (61010)"
            elif error.errcode in (40003, 43104):
                why = f"not an openid of this app ({error.errcode})"
            else:
                log.warning("wechat: msg_sec_check refused: errcode=%s", error.errcode)
                why = f"WeChat refused the check ({error.errcode})"
            return Verdict("unchecked", reason=why)
        result = reply.get("result")
        suggest = result.get("suggest") if isinstance(result, dict) else None
        if suggest not in ("pass", "review", "risky"):
            log.warning("wechat: msg_sec_check answered no verdict")
            return Verdict("unchecked", reason="WeChat answered no verdict")
        label = result.get("label") if isinstance(result, dict) else None
        trace_id = reply.get("trace_id")
        return Verdict(
            suggest,
            label if isinstance(label, int) else None,
            trace_id if isinstance(trace_id, str) else None,
        )
