"""What the query modules share: shorthands for building statements."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, insert

from huihua.store.sql import Statement


def insert_row(table: Table) -> Statement:
    """Return an INSERT of one row, each column bound to a parameter of its own name."""
    return Statement(insert(table).values({c.name: bindparam(c.name) for c in table.c}))


def padded(items: list[Any]) -> list[Any]:
    """Return ``items`` with its last repeated up to a power of two: a statement that takes
    one parameter per item then has a few shapes, each compiled once (a repeated item reads
    the same row again)."""
    n = 1 << max(len(items) - 1, 0).bit_length()
    return items + items[-1:] * (n - len(items))


def matches(column: Any) -> Any:
    """Return ``column = :column`` (the parameter named as the column)."""
    return column == bindparam(column.name)
