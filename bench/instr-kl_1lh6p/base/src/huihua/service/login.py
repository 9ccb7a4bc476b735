"""The login use case: a wx.login code exchanged for its user and a token's facts, once."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable

import msgspec

from huihua import timestamps
from huihua.errors import StorageUnavailable
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db

# code -> the WeChat user's openid (access.wechat.WeChat.openid); raises a HuihuaError.
Exchange = Callable[[str], Awaitable[str]]

LOGIN_REPLAY_MS = 300_000  # a retried /login within 5 minutes gets the same reply
LOGIN_CLAIM_MS = 15_000  # a claim older than this was left by a server that died mid-login
LOGIN_POLL_S = 0.05


class LoginFacts(msgspec.Struct, frozen=True):
    """What a login gave: the user, the token's nonce and times (epoch seconds)."""

    user_id: str
    token_nonce: str
    created: bool
    issued_at: int
    expires_at: int


def login_code_hash(code: str) -> str:
    """Return the hash a login code is kept under (the code itself is never stored)."""
    return hashlib.sha256(b"huihua login code\n" + code.encode()).hexdigest()


async def login(store: Store, exchange: Exchange, code: str, ttl: int, wait_s: float) -> LoginFacts:
    """Exchange a wx.login code for its user (made on first login); return the login facts.

    The same code within five minutes gives the same facts, on any worker or host: the code
    is claimed in the database (by its hash) before WeChat is called, so a twin in flight
    waits up to ``wait_s`` for the first to finish rather than spending the code again. A
    failed exchange forgets the claim: nothing is stored.
    """
    code_hash = login_code_hash(code)

    def claim(db: Db) -> LoginFacts | bool:
        now = timestamps.now_ms()
        q.purge_login_codes(db, now - LOGIN_REPLAY_MS)
        row = q.get_login_code(db, code_hash)
        if row is not None and row.user_id is not None:
            return LoginFacts(
                user_id=row.user_id,
                token_nonce=row.token_nonce,
                created=bool(row.created),
                issued_at=row.issued_at,
                expires_at=row.expires_at,
            )
        if row is not None and row.claimed_at > now - LOGIN_CLAIM_MS:
            return False  # a twin is talking to WeChat
        if row is not None:
            q.delete_login_code(db, code_hash)
        q.claim_login_code(db, code_hash, now)
        return True

    deadline = time.monotonic() + wait_s
    while True:
        claimed = await store.write(claim)
        if isinstance(claimed, LoginFacts):
            return claimed
        if claimed:
            break
        if time.monotonic() > deadline:
            raise StorageUnavailable("code: a login with this code is still under way; retry")
        await asyncio.sleep(LOGIN_POLL_S)

    def finish(db: Db, openid: str) -> LoginFacts:
        now = timestamps.now_ms()
        row = q.get_token_nonce(db, openid)
        created = row is None
        if row is None:
            nonce = q.insert_user(
                db, openid, user_name="", phone="", email="", profile=None, now=now
            )
        elif row.token_nonce is None:  # a user from before tokens existed
            nonce = q.new_token_nonce()
            q.set_token_nonce(db, openid, nonce)
        else:
            nonce = row.token_nonce
        issued_at = now // 1000
        facts = LoginFacts(
            user_id=openid,
            token_nonce=nonce,
            created=created,
            issued_at=issued_at,
            expires_at=issued_at + ttl,
        )
        q.finish_login_code(
            db,
            code_hash,
            user_id=openid,
            token_nonce=nonce,
            created=created,
            issued_at=issued_at,
            expires_at=facts.expires_at,
        )
        return facts

    try:
        openid = await exchange(code)
        return await store.write(lambda db: finish(db, openid))
    except BaseException:
        with contextlib.suppress(Exception):
            await store.write(lambda db: q.delete_login_code(db, code_hash))
        raise
