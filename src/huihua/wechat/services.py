"""What replies use of WeChat, made from the settings: the check and the message."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from huihua.config import Settings
from huihua.wechat.api import WeChatApi
from huihua.wechat.check import ContentCheck
from huihua.wechat.notify import Notifier


@dataclass(frozen=True)
class WeChatServices:
    """The content check (None: off) and the subscription message (None: none), with
    what the check's settings decide."""

    api: WeChatApi
    check: ContentCheck | None
    notifier: Notifier | None
    refuse_unchecked: bool  # an unchecked text: a question ok 8, a reply blocked
    notice: str  # what replaces a blocked reply

    @classmethod
    def from_settings(cls, settings: Settings) -> WeChatServices | None:
        """Return the services the settings turn on, or None when neither is."""
        if not (settings.wechat_check or settings.wechat_notify_template):
            return None
        api = WeChatApi(settings)
        notifier = None
        if settings.wechat_notify_template:
            notifier = Notifier(
                api,
                template=settings.wechat_notify_template,
                page=settings.wechat_notify_page,
                state=settings.wechat_notify_state,
                data=settings.wechat_notify_data,
                zone=ZoneInfo(settings.llm_quota_tz),
            )
        return cls(
            api=api,
            check=ContentCheck(api, settings.wechat_check_scene) if settings.wechat_check else None,
            notifier=notifier,
            refuse_unchecked=settings.wechat_check_unreachable == "refuse",
            notice=settings.wechat_check_notice,
        )

    async def aclose(self) -> None:
        await self.api.aclose()
