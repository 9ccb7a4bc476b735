"""The users' use cases: add or update, read, delete whole (with everything of theirs)."""

from __future__ import annotations

from typing import Any

import msgspec

from huihua import timestamps
from huihua.errors import NotFound, TooLarge
from huihua.service.idempotency import Idempotency, WriteCall
from huihua.store import Store
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.checks import AddUserInput
from huihua.wire.replies import AddUserReply, Envelope

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_rfc3339 = timestamps.rfc3339

USER_NOT_FOUND = "user_id: no such user; call add_user first"


async def add_user(store: Store, call: WriteCall, inp: AddUserInput) -> bytes:
    """Create or update a user; return the encoded reply."""

    def work(db: Db, now: int) -> AddUserReply:
        row = q.get_user(db, inp.user_id)
        if row is None:
            q.insert_user(
                db,
                inp.user_id,
                user_name=inp.user_name or "",
                phone=inp.phone or "",
                email=inp.email or "",
                profile=_encode(inp.extra).decode() if inp.extra else None,
                now=now,
            )
            return AddUserReply(request_id=call.request_id, user_id=inp.user_id, created=True)
        profile = None
        if inp.extra:
            merged = _encode((_decode(row.profile) if row.profile else {}) | inp.extra)
            if len(merged) > inp.profile_max:  # the limit holds for the fields kept in all
                raise TooLarge(f"profile fields: must be at most {inp.profile_max} bytes in all")
            profile = merged.decode()
        q.update_user(
            db,
            inp.user_id,
            user_name=inp.user_name,
            phone=inp.phone,
            email=inp.email,
            profile=profile,
            now=now,
        )
        return AddUserReply(request_id=call.request_id, user_id=inp.user_id, created=False)

    return await store.write(Idempotency(call, inp.user_id, work))


async def query_user_info(store: Store, request_id: str, user_id: str) -> bytes:
    """Return the encoded profile of a user."""
    row = await store.read(lambda db: q.get_user(db, user_id))
    if row is None:
        raise NotFound(USER_NOT_FOUND)
    return _encode({"request_id": request_id, "ok": 0, "failed": "", **profile_of(row)})


def profile_of(row: Any) -> dict[str, Any]:
    """Return a stored user as query_user_info shows it (the envelope aside): the seed's
    fields, the further profile fields at top level, the times."""
    profile: dict[str, Any] = {
        "user_id": row.user_id,
        "user_name": row.user_name,
        "phone": row.phone,
        "email": row.email,
    }
    if row.profile:
        profile.update(_decode(row.profile))
    profile["created_at"] = _rfc3339(row.created_at)
    profile["updated_at"] = _rfc3339(row.updated_at)
    return profile


async def token_nonce(store: Store, user_id: str) -> str | None:
    """Return the user's current token nonce, or None (no such user, or none set yet)."""
    row = await store.read(lambda db: q.get_token_nonce(db, user_id))
    return None if row is None else row.token_nonce


async def delete_user(store: Store, call: WriteCall, user_id: str) -> bytes:
    """Delete a user and every session, message, request and login record of theirs, in one
    transaction; return the encoded reply.

    No idempotency record is left behind (nothing may remain under the user's id), so a
    retry answers ok 2; a request_id already used for a different request is still ok 5.
    """

    def work(db: Db, now: int) -> Envelope:
        if not q.delete_user(db, user_id):
            raise NotFound(USER_NOT_FOUND)
        return Envelope(request_id=call.request_id)

    return await store.write(Idempotency(call, user_id, work, keep=False))
