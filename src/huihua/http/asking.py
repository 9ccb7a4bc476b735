"""The handlers of the replies asked of a model (docs/api.md §8): /ask_ai, /follow_reply,
/stop_reply. Each answers an event stream (pipeline.EventStream), or the envelope when
something is wrong before the stream begins; the table in endpoints.py serves them only
with a model configured.
"""

from __future__ import annotations

from huihua import service
from huihua.access.credentials import Principal
from huihua.http.context import Context, write_call
from huihua.http.endpoint import EventStream
from huihua.wire import checks as v
from huihua.wire.parse import Parsed


async def ask_ai(ctx: Context, parsed: Parsed, who: Principal) -> bytes | EventStream:
    inp = v.check_ask_ai(parsed, ctx.limits)
    who.check(inp.user_id)
    assert ctx.replies is not None  # the route is served only with a model
    call = write_call("/ask_ai", parsed, parsed.data)
    asked = await service.ask_ai(ctx.store, ctx.replies, call, inp)
    return EventStream(asked.frames) if inp.stream else asked.start


async def follow_reply(ctx: Context, parsed: Parsed, who: Principal) -> bytes | EventStream:
    req = v.check_reply(parsed)
    who.check(req.user_id)
    assert ctx.replies is not None
    key = (req.user_id, req.session_id, req.seq)
    frames = await service.follow_reply(
        ctx.store, ctx.replies, parsed.request_id, key, req.after or 0
    )
    return EventStream(frames)


async def stop_reply(ctx: Context, parsed: Parsed, who: Principal) -> bytes | EventStream:
    req = v.check_reply(parsed)
    who.check(req.user_id)
    assert ctx.replies is not None
    call = write_call("/stop_reply", parsed, req)
    key = (req.user_id, req.session_id, req.seq)
    return await service.stop_reply(ctx.store, ctx.replies, call, key)
