"""The operator's routes (docs/api.md §9), for the console: their handlers and table rows.

They read across users, so they take no ``user_id``: the service key only (a user token
gets ok 4), and with auth off a request from this machine only (ok 4 from elsewhere),
each checked after the fields as every forbidden operation is (docs/api.md §1).
endpoints.py appends :data:`ENDPOINTS` to the one endpoint table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from huihua import service
from huihua.access.credentials import Principal
from huihua.http.context import Context
from huihua.http.endpoint import Endpoint, Handler
from huihua.wire import console as wc
from huihua.wire import replies as rp
from huihua.wire import requests as rq
from huihua.wire.parse import Parsed


async def list_users(ctx: Context, parsed: Parsed, who: Principal) -> Any:
    query, limit, after = wc.check_list_users(parsed)
    who.check_operator()
    return await service.list_users(ctx.store, parsed.request_id, query, limit, after)


async def list_feedback(ctx: Context, parsed: Parsed, who: Principal) -> Any:
    req, since, limit, after = wc.check_list_feedback(parsed)
    who.check_operator()
    return await service.list_feedback(
        ctx.store, parsed.request_id, req.rating, since, limit, after
    )


async def usage_stats(ctx: Context, parsed: Parsed, who: Principal) -> Any:
    days = wc.check_usage_stats(parsed)
    who.check_operator()
    return await service.usage_stats(
        ctx.store,
        parsed.request_id,
        days,
        time_zone=ctx.settings.llm_quota_tz,
        streaming_timeout_ms=ctx.settings.streaming_timeout * 1000,
    )


# (path, summary, request, reply, handler, example): Endpoint's first fields.
_Row = tuple[str, str, type[rq.Request], type[rp.Envelope], Handler, Mapping[str, Any]]
# path, summary, request, reply, handler, example: Endpoint's first six fields
_ROWS: tuple[_Row, ...] = (
    (
        "/list_users",
        "Operator: users newest first (a prefix of the id, or text in the name), with their "
        "session and message counts and last activity; by cursor pages. Service key only.",
        rq.ListUsersRequest,
        rp.ListUsersReply,
        list_users,
        {"query": "o6_", "limit": 20},
    ),
    (
        "/list_feedback",
        "Operator: rated replies newest first (likes, dislikes or both), each with its "
        "question; by cursor pages. Service key only.",
        rq.ListFeedbackRequest,
        rp.ListFeedbackReply,
        list_feedback,
        {"rating": "dislike", "limit": 20},
    ),
    (
        "/usage_stats",
        "Operator: the figures of each of the last days (messages, active and new users, "
        "replies by status, tokens by model, likes and dislikes) and their totals. "
        "Service key only.",
        rq.UsageStatsRequest,
        rp.UsageStatsReply,
        usage_stats,
        {"days": 30},
    ),
)
ENDPOINTS = tuple(Endpoint(*row, operator=True) for row in _ROWS)
