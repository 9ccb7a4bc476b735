"""`huihua export` and `huihua import` (issue 12): every stored column as JSON Lines, in a
fixed order, and back into any store; SQLite → PostgreSQL → MariaDB → SQLite gives the
same bytes at every step."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from huihua.config import Settings
from huihua.store import migrate
from huihua.store.search import digest
from huihua.store.tables import chat_messages, chat_sessions, users

from .test_cli import HUIHUA, _env

if TYPE_CHECKING:
    from .conftest import Api, Databases

COLUMNS = {
    "user": [c.name for c in users.c],
    # nor what the search digest holds of a session: an imported one has nothing digested
    "session": [c.name for c in chat_sessions.c if c.name not in digest.SESSION_COLUMNS],
    "message": [c.name for c in chat_messages.c],
}
# ids whose order as UTF-8 bytes differs from a linguistic collation's: B < a < é < 中
USER_IDS = ("u-中文", "u-a", "u-B", "u-é", "u-Z z")
SESSION_IDS = ("s_b", "S-A", "s_1", "s-2", "s10", "s9")


def huihua(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the huihua command as an operator would (not on a terminal)."""
    return subprocess.run(
        [*HUIHUA, *args], env=_env(), input=stdin, capture_output=True, timeout=300, check=False
    )


def export(url: str, *options: str) -> bytes:
    result = huihua("export", "--database-url", url, *options)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def import_file(url: str, path: Path) -> str:
    result = huihua("import", "--database-url", url, str(path))
    assert result.returncode == 0, result.stderr.decode()
    return result.stderr.decode()


def seed(api: Api, rich: bool) -> None:
    """Users, sessions and messages with every kind of value a column can hold."""
    for n, user_id in enumerate(USER_IDS):
        profile: dict[str, Any] = {"avatar_url": "https://example.com/a.png", "level": n}
        reply = api.call(
            "/add_user", user_id=user_id, user_name=f"名字{n}", phone="13800000000", **profile
        )
        assert reply["ok"] == 0, reply
        for s, session_id in enumerate(SESSION_IDS[: n + 1]):
            for i in range(3):
                body: dict[str, Any] = {
                    "user_id": user_id,
                    "session_id": session_id,
                    "role": "user" if i % 2 == 0 else "ai",
                    "msg": f'第{i}条 🙂 "quoted" \\ {s}' if i else "  帮我 写一首诗  ",
                }
                if i == 1:
                    body["meta"] = {"model": "demo", "tokens": 42, "nested": {"k": [1, 2]}}
                if i == 0 and s == 1:
                    body["session_title"] = "给定的标题"
                reply = api.call("/add_chat", **body)
                assert reply["ok"] == 0, reply
    # a session gone, and one with every field of API.md §5.1 set, changed and deleted, pinned
    deleted = api.call("/delete_specific_session", user_id=USER_IDS[0], session_id="s_b")
    assert deleted["ok"] == 0
    if not rich:
        return
    user_id, session_id = USER_IDS[1], "agent"
    turn = [
        {"role": "system", "msg": "你是助手"},
        {
            "role": "user",
            "msg": "看图",
            "parts": [{"type": "image", "url": "https://example.com/猫.png", "width": 640}],
        },
        {
            "role": "ai",
            "msg": "",
            "reasoning": "先想一想……",
            "tool_calls": [{"id": "c1", "name": "search", "arguments": '{"q": "猫"}'}],
        },
        {"role": "tool", "msg": "结果", "tool_call_id": "c1", "name": "search"},
        {"role": "ai", "msg": "", "status": "streaming"},
        {"role": "user", "msg": "withdrawn"},
    ]
    added = api.call("/add_chats", user_id=user_id, session_id=session_id, chats=turn)
    assert added["ok"] == 0, added
    done = api.call(
        "/update_chat", user_id=user_id, session_id=session_id, seq=5, msg="完成", status="complete"
    )
    assert done["ok"] == 0, done
    gone = api.call("/delete_chat", user_id=user_id, session_id=session_id, seq=6)
    assert gone["ok"] == 0, gone
    pinned = api.call("/pin_session", user_id=user_id, session_id=session_id, pinned=True)
    assert pinned["ok"] == 0, pinned


def lines_of(dump: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in dump.splitlines()]


def new_store(databases: Databases, kind: str) -> str:
    url = databases.create(kind)
    migrate(Settings(database_url=url))
    return url


@pytest.mark.postgresql
@pytest.mark.mysql
@pytest.mark.parametrize("rich", [False, True], ids=["seed-fields", "every-field"])
def test_a_store_moves_sqlite_postgresql_mariadb_sqlite_byte_identical(
    serve, databases: Databases, tmp_path: Path, rich: bool
) -> None:
    source: Api = serve("sqlite")
    seed(source, rich)
    first = export(source.settings.database_url)
    lines = lines_of(first)
    # every stored column, keys in a fixed order: kind, then the table's columns
    for line in lines:
        assert list(line) == ["kind", *COLUMNS[line["kind"]]], line
    kinds = [line["kind"] for line in lines]
    assert kinds.count("user") == len(USER_IDS)
    assert kinds.count("message") == 3 * sum(range(1, len(USER_IDS) + 1)) - 3 + 5 * rich
    if rich:
        assert any(x.get("reasoning") and x.get("tool_calls") for x in lines)
        assert any(x["kind"] == "message" and x.get("updated_at") for x in lines)
        assert any(x["kind"] == "session" and x.get("pinned_at") for x in lines)
    # ordered by user_id, session_id as UTF-8 bytes, then seq; each user before its
    # sessions, each session before its messages
    order = [
        (
            line["user_id"].encode(),
            line.get("session_id", "").encode(),
            line.get("seq", 0),
        )
        for line in lines
    ]
    assert order == sorted(order)
    assert [x["user_id"] for x in lines if x["kind"] == "user"] == sorted(USER_IDS, key=str.encode)
    dump = tmp_path / "sqlite.jsonl"
    dump.write_bytes(first)
    for step, kind in enumerate(("postgresql", "mysql", "sqlite")):
        url = new_store(databases, kind)
        summary = import_file(url, dump)
        assert summary.startswith(f"imported {len(USER_IDS)} users, "), summary
        again = export(url)
        assert again == first, f"{kind}: the dump differs"
        dump = tmp_path / f"{step}-{kind}.jsonl"
        dump.write_bytes(again)
    # the last store serves what it imported, as the first did
    last: Api = serve("sqlite", database_url=url)
    for user_id in USER_IDS:
        names = last.call("/query_session_names", user_id=user_id)
        assert names == {
            **source.call("/query_session_names", user_id=user_id),
            "request_id": names["request_id"],
        }
        found = last.call("/search_chats", user_id=user_id, query="🙂")
        assert found == {
            **source.call("/search_chats", user_id=user_id, query="🙂"),
            "request_id": found["request_id"],
        }
        assert found["results"] or user_id == USER_IDS[0]  # whose one session was deleted


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_import_upserts_the_file_wins_and_twice_is_once(serve, kind: str, tmp_path: Path) -> None:
    api: Api = serve(kind)
    user_id = api.new_user()
    for msg in ("one", "two"):
        assert (
            api.call("/add_chat", user_id=user_id, session_id="s", role="user", msg=msg)["ok"] == 0
        )
    url = api.settings.database_url
    before = export(url, "--user", user_id)
    edited = before.replace(b'"msg":"two"', b'"msg":"TWO"')
    assert edited != before
    path = tmp_path / "edited.jsonl"
    path.write_bytes(edited)
    assert (
        api.call("/add_chat", user_id=user_id, session_id="s", role="user", msg="three")["ok"] == 0
    )
    import_file(url, path)
    import_file(url, path)
    chats = api.call("/query_session_info", user_id=user_id, session_id="s")["chats"]
    assert [c["msg"] for c in chats] == ["one", "TWO", "three"]  # a row not in the file stays
    # the search finds the message as the file has it (its signature made on import)
    for query, seqs in (("TWO", [2]), ("two", [2]), ("three", [3])):
        found = api.call("/search_chats", user_id=user_id, query=query)["results"]
        assert [r["seq"] for r in found] == seqs, query
    after = lines_of(export(url, "--user", user_id))
    assert [x["kind"] for x in after] == ["user", "session", "message", "message", "message"]
    assert after[1]["chat_count"] == 2  # the file's session row won too


@pytest.mark.slow
def test_one_user_to_a_file_and_the_errors(serve, tmp_path: Path) -> None:
    api: Api = serve("sqlite")
    mine, other = api.new_user(), api.new_user()
    for user_id in (mine, other):
        assert api.call("/add_chat", user_id=user_id, role="user", msg="hi")["ok"] == 0
    url = api.settings.database_url
    out = tmp_path / "mine.jsonl"
    result = huihua("export", "--database-url", url, "--user", mine, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert result.stderr.decode().startswith(f"exported 1 users, 1 sessions, 1 messages to {out}")
    assert {x["user_id"] for x in lines_of(out.read_bytes())} == {mine}
    mine_dump = out.read_bytes()
    missing = huihua("export", "--database-url", url, "--user", "nobody", "--out", str(out))
    assert missing.returncode != 0 and b"no user 'nobody'" in missing.stderr
    assert out.read_bytes() == mine_dump  # left as it was
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no partial file left
    bad = tmp_path / "bad.jsonl"
    for content, says in (
        (b'{"kind":"user","user_id":"x","nope":1}\n', b"line 1: user has no column 'nope'"),
        (b'{"kind":"robot"}\n', b"line 1: not a user, session or message line"),
        (b"\n{not json\n", b"line 2: not JSON"),
        (b'{"kind":"message","user_id":"x"}\n', b"line 1: message needs session_id"),
    ):
        bad.write_bytes(content)
        result = huihua("import", "--database-url", url, str(bad))
        assert result.returncode != 0 and says in result.stderr, result.stderr
        assert b"Traceback" not in result.stderr
