"""Alembic migrations, configured in code so ``huihua migrate`` works from an installed wheel.

The version table (``alembic_version``) is Alembic's own and the one table whose key does
not start with ``user_id``: it holds a single row.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "huihua:migrations")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """Return the revision this version of huihua needs."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """Return the revision the database is at (None: no schema yet)."""
    return MigrationContext.configure(conn).get_current_revision()


class UnknownRevision(Exception):
    """The database's schema is at a revision this huihua does not know (a newer one's)."""


def known(revision: str) -> bool:
    """Return whether ``revision`` is one of this huihua's migrations."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except Exception:  # Alembic raises its own errors for an unknown revision
        return False


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision`` (the head's: this version's); return (revision
    before, revision after)."""
    with engine.begin() as conn:
        before = current_revision(conn)
        if before is not None and not known(before):
            raise UnknownRevision(before)
        command.upgrade(_config(conn), revision)
        after = current_revision(conn)
    assert after is not None
    return before, after


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (what an older version of huihua needs)."""
    with engine.begin() as conn:
        command.downgrade(_config(conn), revision)
