"""The "your answer is ready" subscription message (docs/api.md §8.7):
``subscribeMessage.send`` once, for a reply that finished while nobody followed it.

The template's keys and what fills each come from ``wechat_notify_data``; each value is cut
to the limit of its key's type (``thing`` 20 characters, ``phrase`` 5, …), with no newline,
since a value too long is refused whole (47003). WeChat's refusal (43101: the user has no
subscription left) is logged and dropped: never retried, never an error of the reply.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from huihua.config.rules import notify_fields
from huihua.wechat.api import Refused, Unreachable, WeChatApi

log = logging.getLogger("huihua.wechat")

PATH = "/cgi-bin/message/subscribe/send"
# The longest value of a key's type, in characters.
LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "number": 32, "name": 10}
DEFAULT_LIMIT = 20
_TYPE = re.compile(r"[a-z_]+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Answered:
    """What a message tells of the reply."""

    openid: str
    session_id: str
    seq: int
    title: str
    reply: str
    model: str


def value_for(key: str, text: str) -> str:
    """Return ``text`` made fit for the template key ``key`` (its type from its name)."""
    match = _TYPE.match(key)
    limit = LIMITS.get(match.group(0) if match else "", DEFAULT_LIMIT)
    flat = _SPACE.sub(" ", text).strip() or "-"
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Notifier:
    """Sends the configured template for replies that finished unheard."""

    def __init__(
        self, api: WeChatApi, *, template: str, page: str, state: str, data: str, zone: ZoneInfo
    ) -> None:
        self.api = api
        self.template = template
        self.page = page
        self.state = state
        self.fields = notify_fields(data)
        self.zone = zone
        self.sent = 0  # messages WeChat took, for the tests and the curious

    def body(self, answered: Answered) -> dict[str, object]:
        """Return the ``subscribeMessage.send`` body for ``answered``."""
        now = datetime.now(self.zone)
        sources = {
            "title": answered.title,
            "reply": answered.reply,
            "model": answered.model,
            "time": f"{now.year}年{now.month}月{now.day}日 {now:%H:%M}",
            "date": f"{now.year}年{now.month}月{now.day}日",
        }
        data = {}
        for key, source in self.fields:
            text = sources[source]
            value = text if source in ("time", "date") else value_for(key, text)
            data[key] = {"value": value}
        body: dict[str, object] = {
            "touser": answered.openid,
            "template_id": self.template,
            "data": data,
            "miniprogram_state": self.state,
            "lang": "zh_CN",
        }
        if self.page:
            page = self.page.replace("{session_id}", answered.session_id)
            body["page"] = page.replace("{seq}", str(answered.seq))
        return body

    async def send(self, answered: Answered) -> bool:
        """Send the message once; return whether WeChat took it (a refusal is logged)."""
        try:
            await self.api.call(PATH, self.body(answered))
        except Refused as error:
            log.info("wechat: the answer-ready message was refused: errcode=%s", error.errcode)
            return False
        except Unreachable as error:
            log.warning("wechat: the answer-ready message was not sent (%s)", error)
            return False
        self.sent += 1
        return True
