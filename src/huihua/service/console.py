"""The operator's console (docs/api.md §9): users, rated replies and the usage figures, across
users. Each is one read of the store on a thread (``long``), walking the indexes
queries/console.py names.

The usage figures are by day in the quota's time zone (``llm_quota_tz``): a range of days
is cut where the zone's offset changes (summer time), and each piece counted by one
grouped statement per figure. A reply stored ``streaming`` whose last change is older than
``streaming_timeout`` counts as ``failed``, as it reads (docs/api.md §5.1).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from huihua import timestamps
from huihua.service.users import profile_of
from huihua.store import Store
from huihua.store.queries import console as cq
from huihua.store.sql import Db
from huihua.wire import console as wc
from huihua.wire import replies as rp

_encode = msgspec.json.Encoder().encode
_rfc3339 = timestamps.rfc3339
DAY_MS = cq.DAY_MS
_USER_COLUMNS = cq.USER_COLUMNS


class _User:
    """A stored user as profile_of reads it (attributes by column name)."""

    __slots__ = _USER_COLUMNS

    def __init__(self, row: tuple[Any, ...]) -> None:
        for name, value in zip(_USER_COLUMNS, row, strict=False):
            setattr(self, name, value)


async def list_users(
    store: Store, request_id: str, query: str | None, limit: int, after: tuple[int, str] | None
) -> bytes:
    """Return the encoded page of users, newest first (docs/api.md §9)."""
    rows = await store.read(lambda db: cq.list_users(db, query, limit, after), long=True)
    width = len(_USER_COLUMNS)
    users = []
    for row in rows:
        session_count, message_count, last_active = row[width : width + 3]
        users.append(
            {
                **profile_of(_User(row)),
                "session_count": int(session_count or 0),
                "message_count": int(message_count or 0),
                "last_active_at": None if last_active is None else _rfc3339(last_active),
            }
        )
    next_cursor = ""
    if len(rows) == limit:
        last = rows[-1]
        next_cursor = wc.encode_users_cursor(last[5], last[0])
    reply = {"request_id": request_id, "ok": 0, "failed": "", "users": users}
    return _encode({**reply, "next_cursor": next_cursor})


async def list_feedback(
    store: Store,
    request_id: str,
    rating: str | None,
    since: int | None,
    limit: int,
    after: tuple[int, str, str, int] | None,
) -> rp.ListFeedbackReply:
    """Return the page of rated replies, newest rating first (docs/api.md §9)."""
    rows = await store.read(lambda db: cq.list_feedback(db, rating, since, limit, after), long=True)
    feedback = [
        rp.FeedbackOut(
            user_id=user_id,
            session_id=session_id,
            session_title=title or "",
            seq=seq,
            rating=rated,
            comment=comment or "",
            msg=msg,
            question=question or "",
            rated_at=_rfc3339(rated_at),
        )
        for user_id, session_id, title, seq, rated, comment, msg, question, rated_at in rows
    ]
    next_cursor = ""
    if len(rows) == limit:
        last = rows[-1]
        next_cursor = wc.encode_feedback_cursor(last[8], last[0], last[1], last[3])
    return rp.ListFeedbackReply(request_id=request_id, feedback=feedback, next_cursor=next_cursor)


# -- usage ----------------------------------------------------------------------------------


def _offset(zone: ZoneInfo, ms: int) -> int:
    moment = dt.datetime.fromtimestamp(ms / 1000, zone)
    return int(moment.utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]


def _midnight(zone: ZoneInfo, day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), zone).timestamp() * 1000)


def offset_pieces(zone: ZoneInfo, start: int, end: int) -> list[tuple[int, int, int]]:
    """Return [start, end) cut where the zone's UTC offset changes: (from, to, offset ms).

    The offset is compared at the ends of each 24 hours; where they differ, the minute it
    changed is searched for (a zone changes its offset at most once a day)."""
    pieces: list[tuple[int, int, int]] = []
    at, offset = start, _offset(zone, start)
    for low in range(start, end, DAY_MS):
        high = min(low + DAY_MS, end)
        if _offset(zone, high - 1) == offset:
            continue
        while high - low > 60_000:  # the first minute of the new offset
            middle = (low + high) // 2
            if _offset(zone, middle) == offset:
                low = middle
            else:
                high = middle
        change = high - high % 60_000
        pieces.append((at, change, offset))
        at, offset = change, _offset(zone, change)
    pieces.append((at, end, offset))
    return pieces


def _usage(db: Db, zone: ZoneInfo, days: int, now: int, stale_ms: int) -> rp.UsageStatsReply:
    today = dt.datetime.fromtimestamp(now / 1000, zone).date()
    dates = [today - dt.timedelta(days=days - 1 - n) for n in range(days)]
    start, end = _midnight(zone, dates[0]), _midnight(zone, today + dt.timedelta(days=1))
    out = {d.isoformat(): rp.DayOut(date=d.isoformat()) for d in dates}
    pieces = offset_pieces(zone, start, end)
    for low, high, offset in pieces:
        figures = {name: cq.figures_by_day(db, name, offset, low, high) for name in cq.DAY_FIGURES}
        for day, n, users in figures["messages"]:
            entry = out.get(_date(day))
            if entry is not None:
                entry.messages += int(n)
                entry.active_users += int(users)
        for day, status, n in figures["replies"]:
            entry = out.get(_date(day))
            if entry is not None:
                key = status or "complete"
                entry.replies[key] = entry.replies.get(key, 0) + int(n)
        for day, n in figures["new_users"]:
            entry = out.get(_date(day))
            if entry is not None:
                entry.new_users += int(n)
        for day, rating, n in figures["ratings"]:
            entry = out.get(_date(day))
            if entry is not None and rating == "like":
                entry.likes += int(n)
            elif entry is not None and rating == "dislike":
                entry.dislikes += int(n)
    for _, change, _ in pieces[:-1]:  # a user active on both sides is counted once
        day = dt.datetime.fromtimestamp(change / 1000, zone).date()
        if day.isoformat() in out:
            after = _midnight(zone, day + dt.timedelta(days=1))
            out[day.isoformat()].active_users = cq.active_users(db, _midnight(zone, day), after)
    for created_at, changed_at in cq.streaming_replies(db, start, end):
        if changed_at < now - stale_ms:  # it reads as failed
            entry = out.get(dt.datetime.fromtimestamp(created_at / 1000, zone).date().isoformat())
            if entry is not None:
                entry.replies["streaming"] -= 1
                entry.replies["failed"] = entry.replies.get("failed", 0) + 1
                if not entry.replies["streaming"]:
                    del entry.replies["streaming"]
    for day_text, model, prompt, completion in cq.tokens_by_day(
        db, dates[0].isoformat(), today.isoformat()
    ):
        entry = out.get(day_text)
        if entry is not None:
            entry.tokens[model] = rp.TokensOut(int(prompt or 0), int(completion or 0))
    totals = rp.TotalsOut(active_users=cq.active_users(db, start, end))
    for entry in out.values():
        totals.messages += entry.messages
        totals.new_users += entry.new_users
        totals.likes += entry.likes
        totals.dislikes += entry.dislikes
        for status, n in entry.replies.items():
            totals.replies[status] = totals.replies.get(status, 0) + n
        for model, tokens in entry.tokens.items():
            total = totals.tokens.setdefault(model, rp.TokensOut())
            total.prompt += tokens.prompt
            total.completion += tokens.completion
    return rp.UsageStatsReply(request_id="", days=list(out.values()), totals=totals)


def _date(local_midnight: int) -> str:
    """Return the date of a local day as the SQL buckets it (its midnight, zone as UTC)."""
    return dt.datetime.fromtimestamp(int(local_midnight) // 1000, dt.UTC).date().isoformat()


async def usage_stats(
    store: Store, request_id: str, days: int, *, time_zone: str, streaming_timeout_ms: int
) -> rp.UsageStatsReply:
    """Return the usage figures of the last ``days`` days, today included (docs/api.md §9)."""
    zone = ZoneInfo(time_zone)
    now = timestamps.now_ms()
    reply = await store.read(
        lambda db: _usage(db, zone, days, now, streaming_timeout_ms), long=True
    )
    reply.request_id = request_id
    return reply
