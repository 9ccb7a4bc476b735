"""Alembic's entry point: runs on the connection huihua hands it (see __init__.py)."""

from alembic import context

from huihua.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
