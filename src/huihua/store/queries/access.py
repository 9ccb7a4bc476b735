"""Access: token nonces, whole-user deletion, and the login codes' replay records."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from huihua.store.queries._common import insert_row, matches
from huihua.store.queries.replies import delete_user_usage
from huihua.store.queries.sessions import delete_all_sessions
from huihua.store.sql import Db, Statement
from huihua.store.tables import idempotency_records, login_codes, users

_i = idempotency_records.c
_u = users.c
_l = login_codes.c

_TOKEN_NONCE = Statement(select(_u.token_nonce).where(matches(_u.user_id)))
_SET_TOKEN_NONCE = Statement(
    update(users).where(_u.user_id == bindparam("key")).values(token_nonce=bindparam("nonce"))
)
_DELETE_USER_IDEMPOTENCY = Statement(delete(idempotency_records).where(matches(_i.user_id)))
_DELETE_USER_LOGIN_CODES = Statement(delete(login_codes).where(matches(_l.user_id)))
_DELETE_USER = Statement(delete(users).where(matches(_u.user_id)))
_GET_LOGIN_CODE = Statement(select(login_codes).where(matches(_l.code_hash)))
_INSERT_LOGIN_CODE = insert_row(login_codes)
_FINISH_LOGIN_CODE = Statement(
    update(login_codes)
    .where(_l.code_hash == bindparam("key"))
    .values(
        user_id=bindparam("to_user_id"),
        token_nonce=bindparam("to_token_nonce"),
        created=bindparam("to_created"),
        issued_at=bindparam("to_issued_at"),
        expires_at=bindparam("to_expires_at"),
    )
)
_DELETE_LOGIN_CODE = Statement(delete(login_codes).where(matches(_l.code_hash)))
_PURGE_LOGIN_CODES = Statement(delete(login_codes).where(_l.claimed_at < bindparam("before")))


def new_token_nonce() -> str:
    """Return a fresh random token nonce (32 hex characters)."""
    return secrets.token_hex(16)


def get_token_nonce(db: Db, user_id: str) -> Any:
    """Return (token_nonce,) of the user (the nonce None when never set), or None: no user."""
    return db.row(_TOKEN_NONCE, user_id=user_id)


def set_token_nonce(db: Db, user_id: str, nonce: str) -> None:
    """Give the user a token nonce (users made before tokens existed have none)."""
    db.run(_SET_TOKEN_NONCE, key=user_id, nonce=nonce)


def delete_user(db: Db, user_id: str) -> bool:
    """Delete the user and every row of theirs; return whether the user existed."""
    delete_all_sessions(db, user_id)
    delete_user_usage(db, user_id)
    db.run(_DELETE_USER_IDEMPOTENCY, user_id=user_id)
    db.run(_DELETE_USER_LOGIN_CODES, user_id=user_id)
    return db.run(_DELETE_USER, user_id=user_id) > 0


def get_login_code(db: Db, code_hash: str) -> Any:
    """Return the login_codes row of a code, or None."""
    return db.row(_GET_LOGIN_CODE, code_hash=code_hash)


def claim_login_code(db: Db, code_hash: str, now: int) -> None:
    """Mark a code as being exchanged; a concurrent claim raises an IntegrityError."""
    db.run(
        _INSERT_LOGIN_CODE,
        code_hash=code_hash,
        claimed_at=now,
        user_id=None,
        token_nonce=None,
        created=None,
        issued_at=None,
        expires_at=None,
    )


def finish_login_code(
    db: Db,
    code_hash: str,
    *,
    user_id: str,
    token_nonce: str,
    created: bool,
    issued_at: int,
    expires_at: int,
) -> None:
    """Record what the login of a claimed code answered."""
    db.run(
        _FINISH_LOGIN_CODE,
        key=code_hash,
        to_user_id=user_id,
        to_token_nonce=token_nonce,
        to_created=int(created),
        to_issued_at=issued_at,
        to_expires_at=expires_at,
    )


def delete_login_code(db: Db, code_hash: str) -> None:
    """Forget a code (its login failed, or its record expired)."""
    db.run(_DELETE_LOGIN_CODE, code_hash=code_hash)


def purge_login_codes(db: Db, before: int) -> int:
    """Delete the login records claimed before ``before``; return how many."""
    return db.run(_PURGE_LOGIN_CODES, before=before)
