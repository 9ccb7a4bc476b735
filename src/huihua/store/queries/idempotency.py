"""Idempotency records: the reply recorded for a write's request id (docs/api.md §4)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from huihua.store.queries._common import insert_row, matches
from huihua.store.sql import Db, Statement
from huihua.store.tables import idempotency_records

_i = idempotency_records.c

_GET_IDEMPOTENCY = Statement(
    select(_i.fingerprint, _i.response).where(matches(_i.user_id), matches(_i.request_id))
)
_PUT_IDEMPOTENCY = insert_row(idempotency_records)


def get_idempotency(db: Db, user_id: str, request_id: str) -> Any:
    """Return (fingerprint, response) recorded for this request id, or None."""
    return db.row(_GET_IDEMPOTENCY, user_id=user_id, request_id=request_id)


def put_idempotency(
    db: Db, user_id: str, request_id: str, fingerprint: str, response: str, now: int
) -> None:
    """Record the reply to a write; a concurrent twin makes this raise an IntegrityError."""
    db.run(
        _PUT_IDEMPOTENCY,
        user_id=user_id,
        request_id=request_id,
        fingerprint=fingerprint,
        response=response,
        created_at=now,
    )
