"""WeChat's content check of a question, before /ask_ai writes anything (docs/api.md §8.6).

The verdict is had before the ask's transaction (WeChat is not asked with a transaction
open) and acted on inside it, after every other rule (the contract's order puts ok 12
last): ``risky`` is ok 12; a text WeChat could not judge is ok 8 or passes, as
``wechat_check_unreachable`` says; ``review`` (and an unjudged text that passes) is noted
in the question's ``meta.check``.
"""

from __future__ import annotations

import msgspec

from huihua.errors import ContentRefused, HuihuaError, StorageUnavailable
from huihua.store import Store
from huihua.store import queries as q
from huihua.wechat.check import openid_of
from huihua.wechat.services import WeChatServices
from huihua.wire.messages import MessageIn

RISKY = "msg: WeChat's content check judged the question risky (label {label}); not stored"
UNCHECKED = "wechat: the content check cannot judge the question now ({reason}); retry later"


async def openid(store: Store, user_id: str) -> str | None:
    """Return the openid the user's texts are checked and messaged under, or None."""
    row = await store.read(lambda db: q.get_user(db, user_id))
    if row is None:
        return None
    return openid_of(user_id, row.profile)


async def screen(
    wechat: WeChatServices, question: MessageIn, user_openid: str | None
) -> tuple[MessageIn, HuihuaError | None]:
    """Return the question as it is to be stored (its meta noting a review) and the error
    the ask must end in (None: it goes on)."""
    assert wechat.check is not None
    verdict = await wechat.check.judge(question.msg, user_openid)
    if verdict.suggest == "pass":
        return question, None
    if verdict.suggest == "risky":
        return question, ContentRefused(RISKY.format(label=verdict.label))
    if verdict.suggest == "unchecked" and wechat.refuse_unchecked:
        return question, StorageUnavailable(UNCHECKED.format(reason=verdict.reason))
    meta = msgspec.json.decode(question.meta) if question.meta else {}
    if not isinstance(meta, dict):
        meta = {}
    meta["check"] = verdict.note()
    return msgspec.structs.replace(question, meta=msgspec.json.encode(meta)), None
