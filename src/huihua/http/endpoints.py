"""The endpoint table, and one thin handler per endpoint: checks → one service call → reply.

Each handler gets the parsed body (its field errors not yet raised, see wire/parse.py) and
returns the reply: a struct, already-encoded JSON, or a streamed body (pipeline.Streamed).
:data:`ENDPOINTS` is the one table of the POST endpoints: what the app routes, what
``/openapi.json`` describes, and what the suites that check every endpoint take.
"""

from __future__ import annotations

from huihua import service
from huihua.access.credentials import Principal
from huihua.http import console_endpoints
from huihua.http.asking import ask_ai, follow_reply, stop_reply
from huihua.http.context import Context, write_call
from huihua.http.endpoint import Endpoint, Handler, Reply, Streamed
from huihua.timestamps import rfc3339
from huihua.wire import checks as v
from huihua.wire import replies as rp
from huihua.wire import requests as rq
from huihua.wire.parse import Parsed
from huihua.wire.replies import Envelope

NOT_USER_BY_BACKEND = 'role: only the app\'s back end may add messages whose role is not "user"'


async def add_user(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    inp = v.check_add_user(parsed, ctx.limits)
    who.check(inp.user_id, backend_only="add_user: only the app's back end may add users")
    call = write_call("/add_user", parsed, parsed.data)
    return await service.add_user(ctx.store, call, inp)


async def query_user_info(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req = v.check_user_only(parsed)
    who.check(req.user_id)
    return await service.query_user_info(ctx.store, parsed.request_id, req.user_id)


def _check_appender(who: Principal, inp: v.AddChatInput) -> None:
    """A user token may add its user's own words only (docs/api.md §6)."""
    for chat in inp.chats:
        if chat.role != "user":
            who.check(inp.user_id, backend_only=NOT_USER_BY_BACKEND)
            return
    who.check(inp.user_id)


async def add_chat(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    inp = v.check_add_chat(parsed, ctx.limits)
    _check_appender(who, inp)
    return await service.add_chat(ctx.store, write_call("/add_chat", parsed, parsed.data), inp)


async def add_chats(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    inp = v.check_add_chats(parsed, ctx.limits)
    _check_appender(who, inp)
    return await service.add_chats(ctx.store, write_call("/add_chats", parsed, parsed.data), inp)


async def update_chat(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req, meta = v.check_update_chat(parsed, ctx.limits)
    who.check(req.user_id, backend_only="update_chat: only the app's back end may update messages")
    call = write_call("/update_chat", parsed, parsed.data)
    return await service.update_chat(ctx.store, call, req, meta)


async def delete_chat(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req, seq, later = v.check_delete_chat(parsed)
    who.check(req.user_id)
    call = write_call("/delete_chat", parsed, req)
    reply = await service.delete_chat(
        ctx.store, call, req.user_id, req.session_id, seq, later=later
    )
    ctx.forget(req.user_id, req.session_id, seq, later=later)
    return reply


async def query_session_names(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req, limit, after = v.check_session_names(parsed)
    who.check(req.user_id)
    return await service.query_session_names(
        ctx.store, parsed.request_id, req.user_id, limit, after
    )


async def query_session_info(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req, limit = v.check_session_info(parsed)
    who.check(req.user_id)
    return await service.query_session_info(
        ctx.store,
        parsed.request_id,
        req.user_id,
        req.session_id,
        service.PageAsk(limit, req.before_seq, req.after_seq),
        max_reply_bytes=ctx.settings.max_reply_bytes,
        streaming_timeout_ms=ctx.settings.streaming_timeout * 1000,
    )


async def delete_specific_session(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req = v.check_user_session(parsed)
    who.check(req.user_id)
    call = write_call("/delete_specific_session", parsed, req)
    reply = await service.delete_specific_session(ctx.store, call, req.user_id, req.session_id)
    ctx.forget(req.user_id, req.session_id)
    return reply


async def delete_sessions(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req = v.check_user_only(parsed)
    who.check(req.user_id)
    call = write_call("/delete_sessions", parsed, req)
    reply = await service.delete_sessions(ctx.store, call, req.user_id)
    ctx.forget(req.user_id)
    return reply


async def delete_user(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req = v.check_user_only(parsed)
    who.check(req.user_id)
    call = write_call("/delete_user", parsed, req)
    reply = await service.delete_user(ctx.store, call, req.user_id)
    ctx.forget(req.user_id)
    return reply


async def rename_session(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req = v.check_rename_session(parsed)
    who.check(req.user_id)
    call = write_call("/rename_session", parsed, req)
    return await service.rename_session(
        ctx.store, call, req.user_id, req.session_id, req.session_title
    )


async def pin_session(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req = v.check_user_session(parsed)  # ``pinned``: a JSON boolean, checked by its type
    who.check(req.user_id)
    call = write_call("/pin_session", parsed, req)
    return await service.pin_session(ctx.store, call, req.user_id, req.session_id, req.pinned)


async def rate_chat(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req = v.check_rate_chat(parsed)
    who.check(req.user_id)
    return await service.rate_chat(ctx.store, write_call("/rate_chat", parsed, req), req)


async def search_chats(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req, limit, after = v.check_search_chats(parsed)
    who.check(req.user_id)
    return await service.search_chats(
        ctx.store,
        parsed.request_id,
        req.user_id,
        req.query,
        limit,
        after,
        req.session_id,
        max_reply_bytes=ctx.settings.max_reply_bytes,
        digest_from=ctx.settings.search_digest_from,
    )


async def export_user_data(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req = v.check_user_only(parsed)
    who.check(req.user_id)
    chunks = await service.export_user_data(
        ctx.store,
        parsed.request_id,
        req.user_id,
        streaming_timeout_ms=ctx.settings.streaming_timeout * 1000,
    )
    return Streamed(chunks)


async def login(ctx: Context, parsed: Parsed, who: Principal) -> Reply:
    req = v.check_login(parsed)
    tokens = ctx.access.tokens
    assert ctx.wechat is not None and tokens is not None  # the route exists only then
    wait_s = ctx.settings.wechat_timeout_ms / 1000 + 1
    ttl = ctx.settings.token_ttl
    facts = await service.login(ctx.store, ctx.wechat.openid, req.code, ttl, wait_s)
    return rp.LoginReply(
        request_id=parsed.request_id,
        user_id=facts.user_id,
        token=tokens.sign(facts.user_id, facts.token_nonce, facts.issued_at, facts.expires_at),
        expires_at=rfc3339(facts.expires_at * 1000),
        created=facts.created,
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/add_user",
        "Create a user, or update the fields given (further profile fields are kept).",
        rq.AddUserRequest,
        rp.AddUserReply,
        add_user,
        {"user_id": "u1", "user_name": "tester"},
        strict=False,
    ),
    Endpoint(
        "/query_user_info",
        "A user's profile, further fields at top level.",
        rq.QueryUserInfoRequest,
        rp.UserInfoReply,
        query_user_info,
        {"user_id": "u1"},
    ),
    Endpoint(
        "/add_chat",
        "Append one message to a session, creating the session when needed.",
        rq.AddChatRequest,
        rp.AddChatReply,
        add_chat,
        {"user_id": "u1", "role": "user", "msg": "hello"},
    ),
    Endpoint(
        "/add_chats",
        "Append 1-100 messages to a session in order (a whole turn), all or none.",
        rq.AddChatsRequest,
        rp.AddChatsReply,
        add_chats,
        {
            "user_id": "u1",
            "chats": [
                {"role": "user", "msg": "hello"},
                {"role": "ai", "msg": "", "status": "streaming"},
            ],
        },
    ),
    Endpoint(
        "/update_chat",
        "Replace fields of an ai message (finish a streaming reply); back end only.",
        rq.UpdateChatRequest,
        rp.UpdateChatReply,
        update_chat,
        {"user_id": "u1", "session_id": "s1", "seq": 2, "msg": "Hi!", "status": "complete"},
    ),
    Endpoint(
        "/delete_chat",
        "Delete one message (seq), or it and every later one (from_seq).",
        rq.DeleteChatRequest,
        rp.DeleteChatReply,
        delete_chat,
        {"user_id": "u1", "session_id": "s1", "seq": 2},
    ),
    Endpoint(
        "/query_session_names",
        "The user's sessions: pinned first, then most recently active first, by keyset pages.",
        rq.QuerySessionNamesRequest,
        rp.SessionNamesReply,
        query_session_names,
        {"user_id": "u1"},
    ),
    Endpoint(
        "/query_session_info",
        "A page of a session's messages (oldest first): the newest, or before_seq back, or "
        "after_seq forward; within the reply cap.",
        rq.QuerySessionInfoRequest,
        rp.SessionInfoReply,
        query_session_info,
        {"user_id": "u1", "session_id": "s1"},
    ),
    Endpoint(
        "/delete_specific_session",
        "Delete one session and its messages.",
        rq.DeleteSpecificSessionRequest,
        Envelope,
        delete_specific_session,
        {"user_id": "u1", "session_id": "s1"},
    ),
    Endpoint(
        "/delete_sessions",
        "Delete every session of a user; the user stays.",
        rq.DeleteSessionsRequest,
        rp.DeleteSessionsReply,
        delete_sessions,
        {"user_id": "u1"},
    ),
    Endpoint(
        "/delete_user",
        "Delete a user with every session, message and request record of theirs.",
        rq.DeleteUserRequest,
        Envelope,
        delete_user,
        {"user_id": "u1"},
    ),
    Endpoint(
        "/search_chats",
        "The user's user and ai messages that contain the query (a substring, A-Z either "
        "case), newest first, with a snippet; by cursor pages, within the reply cap.",
        rq.SearchChatsRequest,
        rp.SearchChatsReply,
        search_chats,
        {"user_id": "u1", "query": "天气"},
    ),
    Endpoint(
        "/rename_session",
        "Give a session the title it keeps from then on (its place in the list stays).",
        rq.RenameSessionRequest,
        rp.RenameSessionReply,
        rename_session,
        {"user_id": "u1", "session_id": "s1", "session_title": "Trip to Paris"},
    ),
    Endpoint(
        "/pin_session",
        "Pin a session (listed first, most recently pinned first) or unpin it (false).",
        rq.PinSessionRequest,
        rp.PinSessionReply,
        pin_session,
        {"user_id": "u1", "session_id": "s1", "pinned": True},
    ),
    Endpoint(
        "/rate_chat",
        'Feedback on an ai message: "like", "dislike" or "" (clears), with a comment.',
        rq.RateChatRequest,
        rp.RateChatReply,
        rate_chat,
        {"user_id": "u1", "session_id": "s1", "seq": 2, "rating": "like"},
    ),
    Endpoint(
        "/export_user_data",
        "A user's data, whole: the profile, every session and message (streamed, one snapshot).",
        rq.ExportUserDataRequest,
        rp.ExportUserDataReply,
        export_user_data,
        {"user_id": "u1"},
    ),
    Endpoint(
        "/login",
        "Exchange a wx.login code for the user (made on first login) and a user token.",
        rq.LoginRequest,
        rp.LoginReply,
        login,
        {"code": "the code from wx.login()"},
        public=True,
    ),
    Endpoint(
        "/ask_ai",
        "Ask the model (or regenerate the last reply): the question and the reply are stored "
        "as the reply streams as Server-Sent Events (start, delta, done).",
        rq.AskAiRequest,
        rp.AskAiReply,
        ask_ai,
        {"user_id": "u1", "session_id": "s1", "msg": "写一首关于秋天的诗"},
        model=True,
        events=True,
    ),
    Endpoint(
        "/follow_reply",
        "A reply's events after the last one the client has (after), then the live ones, "
        "to done: from any server, while the reply is generated or after.",
        rq.FollowReplyRequest,
        Envelope,
        follow_reply,
        {"user_id": "u1", "session_id": "s1", "seq": 2, "after": 0},
        model=True,
        events=True,
    ),
    Endpoint(
        "/stop_reply",
        "Stop a reply being generated: it keeps its text, cancelled; its followers get done.",
        rq.StopReplyRequest,
        rp.StopReplyReply,
        stop_reply,
        {"user_id": "u1", "session_id": "s1", "seq": 2},
        model=True,
    ),
    *console_endpoints.ENDPOINTS,  # the operator's (docs/api.md §9)
)

__all__ = ["ENDPOINTS", "Context", "Endpoint", "Handler", "Reply"]
