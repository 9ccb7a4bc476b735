"""What both runners share: the shape of a unit of work and of a fault, and throwing a
connection away."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from huihua.store.sql import Db

T = TypeVar("T")
UnitOfWork = Callable[[Db], T]
# Called in a write's transaction after its unit of work, before its commit; may raise.
Fault = Callable[[Db], None]


def discard(raw: Any) -> None:
    """Throw a pooled connection away (its state is unknown after a failure)."""
    if raw is not None:
        with contextlib.suppress(Exception):
            raw.invalidate()
