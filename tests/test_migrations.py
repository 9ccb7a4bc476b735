"""Migrations build exactly the schema the code describes, on every store."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert, inspect, select, update

from huihua import migrations
from huihua.config import Settings
from huihua.migrations import backfill
from huihua.store import migrate
from huihua.store.engine import store_kind
from huihua.store.search import signature
from huihua.store.tables import chat_messages, chat_sessions, metadata, users


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


def test_signatures_are_made_for_the_messages_stored_before(databases, store_kind, serve):
    # A store at 0007 (before search) with messages; then 0008 and 0009 (each signature
    # made again, in this version's form), back to 0008 (that version's form) and up again;
    # then 0013, which drops them (the digest holds them since), down again (made again)
    # and up: search finds them as it finds messages added since.
    url = databases.create(store_kind)
    engine = create_engine(store_kind_url(Settings(database_url=url)))
    try:
        migrations.upgrade(engine, "0007")
        messages = [
            ("s1", 1, "user", "今天天气怎么样？"),
            ("s1", 2, "ai", "Sunny, 适合带猫出门 😀"),
            ("s1", 3, "system", "天气 猫"),
            ("s2", 1, "tool", "天气 猫"),
            ("s2", 2, "user", "我家的猫很可爱"),
        ]
        with engine.begin() as conn:
            conn.execute(
                insert(users).values(
                    user_id="u", user_name="n", phone="", email="", created_at=1, updated_at=1
                )
            )
            for session, count in (("s1", 3), ("s2", 2)):
                conn.execute(
                    insert(chat_sessions).values(
                        user_id="u",
                        session_id=session,
                        chat_count=count,
                        created_at=1,
                        updated_at=1,
                        last_seq=count,
                    )
                )
            for session_id, seq, role, msg in messages:
                conn.execute(
                    insert(chat_messages).values(
                        user_id="u",
                        session_id=session_id,
                        seq=seq,
                        role=role,
                        msg=msg,
                        created_at=1000 + seq,
                    )
                )
        migrations.upgrade(engine, "0008")
        with engine.begin() as conn:  # a wrong signature, as 0008 once made: 0009 replaces it
            conn.execute(
                update(backfill.chat_messages)
                .where(backfill.chat_messages.c.role.in_(signature.SEARCHED_ROLES))
                .values(dict.fromkeys(backfill.NAMES, 0))
            )
        assert migrations.upgrade(engine, "0012")[1] == "0012"
        assert stored_signatures(engine) == expected_signatures(messages, backfill.columns)
        made_by_0008 = (
            ScriptDirectory.from_config(migrations._config())
            .get_revision("0009")
            .module._columns_0008
        )
        migrations.downgrade(engine, "0008")
        assert stored_signatures(engine) == expected_signatures(messages, made_by_0008)
        assert stored_signatures(engine) != expected_signatures(messages, backfill.columns)
        migrations.upgrade(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("chat_messages")}
        assert columns.isdisjoint(backfill.NAMES)
        migrations.downgrade(engine, "0012")
        assert stored_signatures(engine) == expected_signatures(messages, backfill.columns)
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    api = serve(store_kind, database_url=url)
    for query, keys in [
        ("天气", [["s1", 1]]),
        ("猫", [["s2", 2], ["s1", 2]]),
        ("sunny", [["s1", 2]]),
        ("😀", [["s1", 2]]),
        ("天气 猫", []),
    ]:
        reply = api.call("/search_chats", user_id="u", query=query)
        assert reply["ok"] == 0, reply
        assert [[r["session_id"], r["seq"]] for r in reply["results"]] == keys, query


def stored_signatures(engine):
    c = backfill.chat_messages.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.session_id, c.seq, *(c[name] for name in backfill.NAMES)).order_by(
                c.session_id, c.seq
            )
        ).all()
    # (ids come back as bytes on MySQL/MariaDB: this table has no types of huihua's)
    return {(_text(row[0]), row[1]): list(row[2:]) for row in rows}


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def expected_signatures(messages, columns):
    return {(s, n): list(columns(role, msg).values()) for s, n, role, msg in messages}
