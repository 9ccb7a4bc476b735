"""Migrations build exactly the schema the code describes, on every store."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from huihua import migrations
from huihua.config import Settings
from huihua.store import migrate
from huihua.store.engine import store_kind
from huihua.store.tables import metadata


def test_migrated_schema_matches_the_tables(databases, store_kind):
    settings = Settings(database_url=databases.create(store_kind))
    before, after = migrate(settings)
    assert before is None
    assert after == migrations.head_revision()
    assert migrate(settings) == (after, after)  # a second run changes nothing
    engine = create_engine(store_kind_url(settings))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            assert migrations.current_revision(conn) == after
            tables = inspect(conn)
            for name in metadata.tables:
                primary_key = tables.get_pk_constraint(name)["constrained_columns"]
                if name == "login_codes":  # the user is not known before WeChat answers
                    assert primary_key == ["code_hash"], name
                    continue
                assert primary_key[0] == "user_id", name
    finally:
        engine.dispose()


def store_kind_url(settings: Settings):
    return store_kind(settings.database_url).url
