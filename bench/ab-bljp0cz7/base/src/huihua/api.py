"""One thin handler per endpoint: checked request → one service call → reply.

Each handler gets the parsed body (its field errors not yet raised, see validation.py) and
returns the reply, as a struct or as already-encoded JSON. :data:`ENDPOINTS` lists them with
their request and reply schemas, for routing and for ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from huihua import schemas as s
from huihua import service
from huihua import validation as v
from huihua.auth import Access, Principal
from huihua.config import Settings
from huihua.errors import Envelope
from huihua.store import Store
from huihua.timestamps import rfc3339
from huihua.wechat import WeChat


@dataclass(frozen=True)
class Context:
    """What a handler works with: the settings, the open store, who may call what (access),
    and the WeChat client (None when /login is not configured)."""

    settings: Settings
    store: Store
    access: Access
    wechat: WeChat | None = None


AI_BY_BACKEND = 'role: only the app\'s back end may add "ai" messages'
Reply = bytes | msgspec.Struct
Handler = Callable[[Context, v.Parsed, Principal], Awaitable[Reply]]


def _write_call(path: str, parsed: v.Parsed, request: Any) -> service.WriteCall:
    client_rid = request.get("request_id") if isinstance(request, dict) else request.request_id
    return service.WriteCall(
        path=path,
        request_id=parsed.request_id,
        client_request_id=client_rid,
        request=request,
    )


async def add_user(ctx: Context, parsed: v.Parsed, who: Principal) -> Reply:
    inp = v.check_add_user(ctx.settings, parsed)
    who.check(inp.user_id, backend_only="add_user: only the app's back end may add users")
    call = _write_call("/add_user", parsed, parsed.data)
    return await service.add_user(ctx.store, call, inp)


async def query_user_info(ctx: Context, parsed: v.Parsed, who: Principal) -> Reply:
    req = v.check_user_only(ctx.settings, parsed)
    who.check(req.user_id)
    return await service.query_user_info(ctx.store, parsed.request_id, req.user_id)


async def add_chat(ctx: Context, parsed: v.Parsed, who: Principal) -> Reply:
    inp = v.check_add_chat(ctx.settings, parsed)
    only_backend = AI_BY_BACKEND if inp.role == "ai" else None
    who.check(inp.user_id, backend_only=only_backend)
    return await service.add_chat(ctx.store, _write_call("/add_chat", parsed, parsed.data), inp)


async def query_session_names(ctx: Context, parsed: v.Parsed, who: Principal) -> Reply:
    req, limit, after = v.check_session_names(ctx.settings, parsed)
    who.check(req.user_id)
    return await service.query_session_names(
        ctx.store, parsed.request_id, req.user_id, limit, after
    )


async def query_session_info(ctx: Context, parsed: v.Parsed, who: Principal) -> Reply:
    req, limit, before_seq = v.check_session_info(ctx.settings, parsed)
    who.check(req.user_id)
    return await service.query_session_info(
        ctx.store, parsed.request_id, req.user_id, req.session_id, limit, before_seq
    )


async def delete_specific_session(ctx: Context, parsed: v.Parsed, who: Principal) -> Reply:
    req = v.check_user_session(ctx.settings, parsed)
    who.check(req.user_id)
    call = _write_call("/delete_specific_session", parsed, req)
    return await service.delete_specific_session(ctx.store, call, req.user_id, req.session_id)


async def delete_sessions(ctx: Context, parsed: v.Parsed, who: Principal) -> Reply:
    req = v.check_user_only(ctx.settings, parsed)
    who.check(req.user_id)
    call = _write_call("/delete_sessions", parsed, req)
    return await service.delete_sessions(ctx.store, call, req.user_id)


async def delete_user(ctx: Context, parsed: v.Parsed, who: Principal) -> Reply:
    req = v.check_user_only(ctx.settings, parsed)
    who.check(req.user_id)
    call = _write_call("/delete_user", parsed, req)
    return await service.delete_user(ctx.store, call, req.user_id)


async def login(ctx: Context, parsed: v.Parsed, who: Principal) -> Reply:
    req = v.check_login(ctx.settings, parsed)
    tokens = ctx.access.tokens
    assert ctx.wechat is not None and tokens is not None  # the route exists only then
    wait_s = ctx.settings.wechat_timeout_ms / 1000 + 1
    facts = await service.login(ctx.store, ctx.wechat, req.code, ctx.settings.token_ttl, wait_s)
    return s.LoginReply(
        request_id=parsed.request_id,
        user_id=facts.user_id,
        token=tokens.sign(facts.user_id, facts.token_nonce, facts.issued_at, facts.expires_at),
        expires_at=rfc3339(facts.expires_at * 1000),
        created=facts.created,
    )


@dataclass(frozen=True)
class Endpoint:
    """A POST endpoint: its path, what it takes and gives, and its handler."""

    path: str
    summary: str
    request: type[s.Request]
    reply: type[Envelope]
    handler: Handler
    # Decode the body into ``request`` (False: as a plain object, for add_user).
    strict: bool = True
    # Needs no credential even with auth on (/login: how a mini-program gets one).
    public: bool = False


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/add_user",
        "Create a user, or update the fields given (further profile fields are kept).",
        s.AddUserRequest,
        s.AddUserReply,
        add_user,
        strict=False,
    ),
    Endpoint(
        "/query_user_info",
        "A user's profile, further fields at top level.",
        s.QueryUserInfoRequest,
        s.UserInfoReply,
        query_user_info,
    ),
    Endpoint(
        "/add_chat",
        "Append one message to a session, creating the session when needed.",
        s.AddChatRequest,
        s.AddChatReply,
        add_chat,
    ),
    Endpoint(
        "/query_session_names",
        "The user's sessions, most recently active first, by keyset pages.",
        s.QuerySessionNamesRequest,
        s.SessionNamesReply,
        query_session_names,
    ),
    Endpoint(
        "/query_session_info",
        "The newest messages of a session (oldest first), paged with before_seq.",
        s.QuerySessionInfoRequest,
        s.SessionInfoReply,
        query_session_info,
    ),
    Endpoint(
        "/delete_specific_session",
        "Delete one session and its messages.",
        s.DeleteSpecificSessionRequest,
        Envelope,
        delete_specific_session,
    ),
    Endpoint(
        "/delete_sessions",
        "Delete every session of a user; the user stays.",
        s.DeleteSessionsRequest,
        s.DeleteSessionsReply,
        delete_sessions,
    ),
    Endpoint(
        "/delete_user",
        "Delete a user with every session, message and request record of theirs.",
        s.DeleteUserRequest,
        Envelope,
        delete_user,
    ),
    Endpoint(
        "/login",
        "Exchange a wx.login code for the user (made on first login) and a user token.",
        s.LoginRequest,
        s.LoginReply,
        login,
        public=True,
    ),
)
