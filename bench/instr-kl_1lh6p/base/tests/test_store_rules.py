"""What every store must keep exactly (API.md §2, §7), over HTTP, on every store.

Ids compare byte for byte (MySQL's PAD SPACE and case-insensitive collations would merge
``abc``, ``Abc`` and ``abc ``); 4-byte characters and the longest message round-trip;
U+0000, which PostgreSQL cannot store, is refused everywhere; text that looks like SQL or
escapes is stored as it came.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from .helpers import fails, ok

if TYPE_CHECKING:
    from conftest import Api

EMOJI = "😀𠀀"  # U+1F600 and U+20000: four bytes each in UTF-8


def user_info(api: Api, user_id: str) -> dict[str, Any]:
    body = ok(api, "/query_user_info", user_id=user_id)
    return {k: v for k, v in body.items() if k not in ("request_id", "ok", "failed")}


def sessions(api: Api, user_id: str) -> list[dict[str, Any]]:
    body = ok(api, "/query_session_names", user_id=user_id, limit=1000)
    assert body["next_cursor"] == ""
    return body["sessions"]


def chats(api: Api, user_id: str, session_id: str) -> list[dict[str, Any]]:
    body = ok(api, "/query_session_info", user_id=user_id, session_id=session_id)
    assert body["user_id"] == user_id
    assert body["session_id"] == session_id
    return body["chats"]


def fresh() -> str:
    return uuid.uuid4().hex


# -- ids compare exactly ------------------------------------------------------------------


def test_user_ids_compare_exactly(api: Api) -> None:
    tag = fresh()
    ids = [
        f"Abc{tag}",
        f"abc{tag}",
        f"abc{tag} ",
        f"abc{tag}  ",
        f" abc{tag}",
        f"ABC{tag}",
        f"ábc{tag}",
        f"abc{tag}%",
        f"abc{tag}_",
    ]
    for i, user_id in enumerate(ids):
        body = ok(api, "/add_user", user_id=user_id, user_name=f"name {i}", phone=str(i))
        assert body["created"] is True, (user_id, body)
        assert body["user_id"] == user_id
    for i, user_id in enumerate(ids):
        ok(api, "/add_chat", user_id=user_id, session_id="S1", role="user", msg=f"msg {i}")
    for i, user_id in enumerate(ids):
        got = user_info(api, user_id)
        assert got["user_id"] == user_id
        assert got["user_name"] == f"name {i}"
        assert got["phone"] == str(i)
        rows = sessions(api, user_id)
        assert [(r["session_id"], r["chat_count"]) for r in rows] == [("S1", 1)]
        assert [c["msg"] for c in chats(api, user_id, "S1")] == [f"msg {i}"]

    # Clearing one user's sessions touches no look-alike.
    assert ok(api, "/delete_sessions", user_id=ids[1])["deleted"] == 1
    for user_id in ids[:1] + ids[2:]:
        assert [r["session_id"] for r in sessions(api, user_id)] == ["S1"], user_id
    # And deleting one session by id touches only that user's.
    ok(api, "/delete_specific_session", user_id=ids[2], session_id="S1")
    for user_id in ids[:1] + ids[3:]:
        assert [r["session_id"] for r in sessions(api, user_id)] == ["S1"], user_id


def test_a_look_alike_user_id_is_not_found(api: Api) -> None:
    user_id = f"abc{fresh()}"
    ok(api, "/add_user", user_id=user_id, user_name="x")
    for other in (user_id.upper(), user_id + " ", " " + user_id, user_id[:-1]):
        fails(api, "/query_user_info", 2, user_id=other)
        fails(api, "/query_session_names", 2, user_id=other)


def test_session_ids_compare_exactly(api: Api, user: str) -> None:
    ids = ["S1", "s1", "S1_", "S-1", "s1-"]
    for sid in ids:
        reply = ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg=f"in {sid}")
        assert reply["seq"] == 1, sid
        assert reply["session_id"] == sid
    for sid in ids:
        got = chats(api, user, sid)
        assert [c["msg"] for c in got] == [f"in {sid}"], sid
    assert sorted(r["session_id"] for r in sessions(api, user)) == sorted(ids)

    ok(api, "/add_chat", user_id=user, session_id="s1", role="ai", msg="second in s1")
    assert [c["seq"] for c in chats(api, user, "S1")] == [1]
    assert [c["seq"] for c in chats(api, user, "s1")] == [1, 2]

    ok(api, "/delete_specific_session", user_id=user, session_id="S1")
    fails(api, "/query_session_info", 2, user_id=user, session_id="S1")
    assert [c["msg"] for c in chats(api, user, "s1")] == ["in s1", "second in s1"]
    assert sorted(r["session_id"] for r in sessions(api, user)) == sorted(ids[1:])


# -- 4-byte characters --------------------------------------------------------------------


def test_four_byte_characters_round_trip(api: Api) -> None:
    user_id = f"{EMOJI}-{fresh()}"
    name = f"名字{EMOJI}𝄞"
    ok(
        api,
        "/add_user",
        user_id=user_id,
        user_name=name,
        phone=f"+86{EMOJI}",
        email=f"{EMOJI}@例子.中国",
        nickname=EMOJI,
        nested={EMOJI: [EMOJI, {"k": f"v{EMOJI}"}]},
    )
    assert user_info(api, user_id) | {"created_at": "", "updated_at": ""} == {
        "user_id": user_id,
        "user_name": name,
        "phone": f"+86{EMOJI}",
        "email": f"{EMOJI}@例子.中国",
        "nickname": EMOJI,
        "nested": {EMOJI: [EMOJI, {"k": f"v{EMOJI}"}]},
        "created_at": "",
        "updated_at": "",
    }

    title = f"标题 {EMOJI} 🎉"
    msg = f"你好 {EMOJI} 👨‍👩‍👧‍👦 🇨🇳 𝄞 end"
    meta = {"emoji": EMOJI, f"key{EMOJI}": [f"{EMOJI}", {"deep": "🎉"}]}
    reply = ok(
        api, "/add_chat", user_id=user_id, role="user", msg=msg, session_title=title, meta=meta
    )
    sid = reply["session_id"]
    got = chats(api, user_id, sid)
    assert [(c["msg"], c["meta"]) for c in got] == [(msg, meta)]
    rows = sessions(api, user_id)
    assert [(r["session_id"], r["session_title"]) for r in rows] == [(sid, title)]

    # An auto-title cut in the middle of 4-byte characters.
    auto = ok(api, "/add_chat", user_id=user_id, role="user", msg=EMOJI * 20)
    titles = {r["session_id"]: r["session_title"] for r in sessions(api, user_id)}
    assert titles[auto["session_id"]] == EMOJI * 15 + "…"


def test_four_byte_characters_at_the_length_limits(api: Api) -> None:
    """The limits count characters, not bytes: 4-byte ones fit up to each limit."""
    user_id = ("😀" * 128)[:-32] + fresh()  # 128 characters
    assert len(user_id) == 128
    profile = {"user_name": "😀" * 64, "phone": "😀" * 32, "email": "𠀀" * 254}
    ok(api, "/add_user", user_id=user_id, **profile)
    got = user_info(api, user_id)
    assert {k: got[k] for k in ("user_id", *profile)} == {"user_id": user_id, **profile}

    title = "🎉" * 100
    reply = ok(api, "/add_chat", user_id=user_id, role="user", msg="x", session_title=title)
    rows = sessions(api, user_id)
    assert [(r["session_id"], r["session_title"]) for r in rows] == [(reply["session_id"], title)]


# -- the longest message ------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg",
    [
        ("0123456789abcdef" * 4096),
        (EMOJI * 32768),
        ("中" * 65_535 + "😀"),
    ],
    ids=["ascii", "emoji", "mixed"],
)
def test_longest_message_round_trips(api: Api, user: str, msg: str) -> None:
    assert len(msg) == 65_536
    reply = ok(api, "/add_chat", user_id=user, role="user", msg=msg)
    sid = reply["session_id"]
    reply2 = ok(api, "/add_chat", user_id=user, session_id=sid, role="ai", msg=msg)
    assert reply2["seq"] == 2
    got = chats(api, user, sid)
    assert len(got) == 2
    assert got[0]["msg"] == msg
    assert got[1]["msg"] == msg
    assert len(got[0]["msg"]) == 65_536


def test_message_one_character_too_long_is_refused(api: Api, user: str) -> None:
    body = fails(api, "/add_chat", 6, user_id=user, role="user", msg="😀" * 65_537)
    assert "msg" in body["failed"]
    assert sessions(api, user) == []


# -- U+0000 -------------------------------------------------------------------------------

NUL = "a\x00b"

NUL_ADD_USER = {
    "user_name": {"user_name": NUL},
    "phone": {"phone": NUL},
    "email": {"email": NUL},
    "further-value": {"avatar_url": NUL},
    "further-nested": {"extra": {"list": ["ok", {"deep": NUL}]}},
    "further-name": {"bad\x00name": 1},
}


@pytest.mark.parametrize("fields", NUL_ADD_USER.values(), ids=NUL_ADD_USER.keys())
def test_nul_in_add_user_is_refused(api: Api, fields: dict[str, Any]) -> None:
    # A new user: refused, and not created.
    user_id = f"u-{fresh()}"
    body = {"user_id": user_id, "user_name": "n", **fields}
    reply = api.post("/add_user", body)
    assert (reply.status_code, reply.json()["ok"]) == (400, 1), reply.json()
    fails(api, "/query_user_info", 2, user_id=user_id)
    # An existing user: refused, and nothing changed.
    existing = api.new_user(phone="1", email="e@example.com", avatar_url="a.png")
    before = user_info(api, existing)
    reply = api.post("/add_user", {"user_id": existing, **fields})
    assert (reply.status_code, reply.json()["ok"]) == (400, 1), reply.json()
    assert user_info(api, existing) == before


def test_nul_in_user_id_is_refused(api: Api) -> None:
    user_id = f"u-{fresh()}\x00x"
    fails(api, "/add_user", 1, user_id=user_id, user_name="n")
    for path in ("/query_user_info", "/query_session_names", "/delete_sessions"):
        fails(api, path, 1, user_id=user_id)
    fails(api, "/add_chat", 1, user_id=user_id, role="user", msg="hi")
    # The id cut at the NUL was not made either.
    fails(api, "/query_user_info", 2, user_id=user_id.split("\x00")[0])


NUL_ADD_CHAT = {
    "msg": {"msg": NUL},
    "msg-only-nul": {"msg": "\x00"},
    "session_title": {"session_title": NUL},
    "session_id": {"session_id": "s\x00"},
    "meta-value": {"meta": {"model": NUL}},
    "meta-nested": {"meta": {"a": [{"b": ["\x00"]}]}},
    "meta-name": {"meta": {"k\x00": 1}},
    "request_id": {"request_id": f"r-{uuid.uuid4().hex}\x00"},
}


@pytest.mark.parametrize("fields", NUL_ADD_CHAT.values(), ids=NUL_ADD_CHAT.keys())
def test_nul_in_add_chat_is_refused(api: Api, user: str, fields: dict[str, Any]) -> None:
    body = {"user_id": user, "role": "user", "msg": "hello", **fields}
    reply = api.post("/add_chat", body)
    assert (reply.status_code, reply.json()["ok"]) == (400, 1), reply.json()
    assert sessions(api, user) == []
    # Nor is anything added to an existing session.
    sid = ok(api, "/add_chat", user_id=user, role="user", msg="first")["session_id"]
    reply = api.post("/add_chat", body | {"session_id": fields.get("session_id", sid)})
    assert (reply.status_code, reply.json()["ok"]) == (400, 1), reply.json()
    assert [c["msg"] for c in chats(api, user, sid)] == ["first"]
    assert [r["chat_count"] for r in sessions(api, user)] == [1]


def test_nul_in_read_and_delete_fields_is_refused(api: Api, user: str) -> None:
    sid = ok(api, "/add_chat", user_id=user, role="user", msg="x")["session_id"]
    fails(api, "/query_session_info", 1, user_id=user, session_id=sid + "\x00")
    fails(api, "/delete_specific_session", 1, user_id=user, session_id=sid + "\x00")
    fails(api, "/query_session_names", 1, user_id=user, cursor="\x00")
    assert [r["session_id"] for r in sessions(api, user)] == [sid]


# -- text that looks like code ------------------------------------------------------------

TRICKY = [
    "it's",
    'say "hi"',
    "back\\slash \\\\ double \\n not a newline \\u0000 \\x00",
    "line1\nline2\r\nline3\rline4",
    "tab\there",
    "'; DROP TABLE chat_messages; --",
    "Robert'); DELETE FROM users WHERE 1=1; --",
    '" OR "1"="1',
    "100% _wild_ [cards] %s %(name)s {0} ${x} $1 ?",
    "<script>alert('x')</script> &amp; &lt;",
    "`backticks` /* comment */ -- dash # hash",
    "\u2028\u2029 line separators \ufeff bom",
    "é vs e\u0301",
    "\x1b[31mred\x1b[0m \x01\x1f\x7f",
    "   ",
    "🙂\\🙂\"🙂'",
]


def test_tricky_text_round_trips(api: Api) -> None:
    user_id = f"o'brien\"\\; DROP TABLE users;-- {fresh()}"
    ok(api, "/add_user", user_id=user_id, user_name="'; --", motto=TRICKY, quote='"\\')
    got = user_info(api, user_id)
    assert (got["user_id"], got["user_name"], got["motto"], got["quote"]) == (
        user_id,
        "'; --",
        TRICKY,
        '"\\',
    )
    sid = "sql_--_x"
    for text in TRICKY:
        ok(
            api,
            "/add_chat",
            user_id=user_id,
            session_id=sid,
            role="ai",
            msg=text,
            meta={"text": text, text: text},
        )
    got_chats = chats(api, user_id, sid)
    assert [c["msg"] for c in got_chats] == TRICKY
    assert [c["meta"] for c in got_chats] == [{"text": t, t: t} for t in TRICKY]
    assert [c["seq"] for c in got_chats] == list(range(1, len(TRICKY) + 1))


@pytest.mark.parametrize("text", TRICKY[:10])
def test_tricky_session_title_round_trips(api: Api, user: str, text: str) -> None:
    reply = ok(api, "/add_chat", user_id=user, role="user", msg="m", session_title=text)
    rows = sessions(api, user)
    assert [(r["session_id"], r["session_title"]) for r in rows] == [(reply["session_id"], text)]
    assert (
        ok(api, "/query_session_info", user_id=user, session_id=reply["session_id"])[
            "session_title"
        ]
        == text
    )
