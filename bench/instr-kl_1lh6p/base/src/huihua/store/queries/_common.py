"""What the query modules share: two shorthands for building statements."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, insert

from huihua.store.sql import Statement


def insert_row(table: Table) -> Statement:
    """Return an INSERT of one row, each column bound to a parameter of its own name."""
    return Statement(insert(table).values({c.name: bindparam(c.name) for c in table.c}))


def matches(column: Any) -> Any:
    """Return ``column = :column`` (the parameter named as the column)."""
    return column == bindparam(column.name)
