"""Users: their row, its profile fields, and its creation with a token nonce."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select, update

from huihua.store.queries._common import insert_row, matches
from huihua.store.queries.access import new_token_nonce
from huihua.store.sql import Db, Statement
from huihua.store.tables import users

_u = users.c

_GET_USER = Statement(select(users).where(matches(_u.user_id)))
_USER_EXISTS = Statement(select(_u.user_id).where(matches(_u.user_id)))
_INSERT_USER = insert_row(users)
_UPDATE_USER = Statement(
    update(users)
    .where(_u.user_id == bindparam("key"))
    .values(
        user_name=func.coalesce(bindparam("user_name"), _u.user_name),
        phone=func.coalesce(bindparam("phone"), _u.phone),
        email=func.coalesce(bindparam("email"), _u.email),
        profile=func.coalesce(bindparam("profile"), _u.profile),
        updated_at=bindparam("now"),
    )
)


def get_user(db: Db, user_id: str) -> Any:
    """Return the user's row, or None."""
    return db.row(_GET_USER, user_id=user_id)


def user_exists(db: Db, user_id: str) -> bool:
    """Return whether the user exists."""
    return db.row(_USER_EXISTS, user_id=user_id) is not None


def insert_user(
    db: Db,
    user_id: str,
    *,
    user_name: str,
    phone: str,
    email: str,
    profile: str | None,
    now: int,
) -> str:
    """Create a user with a new token nonce; return the nonce. A concurrent twin makes this
    raise an IntegrityError."""
    token_nonce = new_token_nonce()
    db.run(
        _INSERT_USER,
        user_id=user_id,
        user_name=user_name,
        phone=phone,
        email=email,
        profile=profile,
        created_at=now,
        updated_at=now,
        token_nonce=token_nonce,
    )
    return token_nonce


def update_user(
    db: Db,
    user_id: str,
    *,
    user_name: str | None,
    phone: str | None,
    email: str | None,
    profile: str | None,
    now: int,
) -> None:
    """Set the fields given (None: leave as it is)."""
    db.run(
        _UPDATE_USER,
        key=user_id,
        user_name=user_name,
        phone=phone,
        email=email,
        profile=profile,
        now=now,
    )
