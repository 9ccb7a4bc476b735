"""The operator's routes (docs/api.md §9) on three stores: /list_users, /list_feedback,
/usage_stats. Their pages are exact across ties (rows of one time, written straight into
the store: the clock cannot be made to give them), their figures are what was written,
a user token gets ok 4, and with auth off they answer this machine only.
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn

from huihua.config import Settings
from huihua.http.app import create_app
from huihua.store import migrate

from .access import login, send, sql
from .conftest import SERVICE_KEY, free_port
from .helpers import start_in_thread

T0 = 1_790_000_000_000  # 2026-09-21: a time no test's clock gives


def ok(api: Any, path: str, **fields: Any) -> dict[str, Any]:
    reply = api.call(path, **fields)
    assert reply["ok"] == 0, reply
    return reply


def _pages(api: Any, path: str, key: str, limit: int, **fields: Any) -> list[dict[str, Any]]:
    """Return every row of a listing, read ``limit`` at a time by its cursor."""
    rows: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(100):
        reply = ok(api, path, limit=limit, cursor=cursor, **fields)
        assert len(reply[key]) <= limit
        rows += reply[key]
        cursor = reply["next_cursor"]
        if not cursor:
            return rows
    raise AssertionError("the pages never end")


@pytest.fixture
def fresh(serve: Any, store_kind: str) -> Any:
    """A server of its own on a new database (auth off): the listings hold this test's rows."""
    return serve(store_kind)


def test_list_users_pages_exactly_across_ties(fresh: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [f"c{tag}{n:02d}" for n in range(9)]
    for n, user_id in enumerate(ids):
        ok(fresh, "/add_user", user_id=user_id, user_name=f"Name {n} of {tag.upper()}")
    # Three times, three users each: every page boundary falls inside a tie somewhere.
    for n, user_id in enumerate(ids):
        sql(
            fresh, "UPDATE users SET created_at = :at WHERE user_id = :u", at=T0 + n // 3, u=user_id
        )
    expected = sorted(ids, key=lambda u: (T0 + ids.index(u) // 3, u), reverse=True)
    for limit in (1, 2, 4, 9, 100):
        rows = _pages(fresh, "/list_users", "users", limit, query=f"c{tag}")
        assert [r["user_id"] for r in rows] == expected, limit
    everyone = _pages(fresh, "/list_users", "users", 2)
    assert [r["user_id"] for r in everyone] == expected  # no query: the same users
    # Text in the name, A-Z either case; a prefix that is not one matches nothing.
    named = ok(fresh, "/list_users", query=f"name 4 of {tag}")["users"]
    assert [r["user_id"] for r in named] == [ids[4]]
    assert ok(fresh, "/list_users", query=f"{tag}01")["users"] == []
    assert ok(fresh, "/list_users", query="%")["users"] == []  # LIKE's wildcards are text


def test_list_users_counts_and_last_activity(fresh: Any) -> None:
    user_id = fresh.new_user(avatar_url="https://example.com/a.png")
    idle = fresh.new_user()
    for session_id in ("s1", "s2"):
        ok(fresh, "/add_chat", user_id=user_id, session_id=session_id, role="user", msg="hi")
    last = ok(fresh, "/add_chat", user_id=user_id, session_id="s2", role="ai", msg="hello")
    rows = {r["user_id"]: r for r in ok(fresh, "/list_users")["users"]}
    assert rows[user_id]["session_count"] == 2
    assert rows[user_id]["message_count"] == 3
    assert rows[user_id]["last_active_at"] == last["created_at"]
    assert rows[user_id]["avatar_url"] == "https://example.com/a.png"
    info = ok(fresh, "/query_user_info", user_id=user_id)
    envelope = ("request_id", "ok", "failed")
    assert {k: rows[user_id][k] for k in info if k not in envelope} == {
        k: v for k, v in info.items() if k not in envelope
    }
    assert (rows[idle]["session_count"], rows[idle]["message_count"]) == (0, 0)
    assert rows[idle]["last_active_at"] is None
    assert "token_nonce" not in rows[idle] and "profile" not in rows[idle]


def _turns(api: Any, user_id: str, session_id: str, n: int) -> list[int]:
    """Write ``n`` question-and-answer turns; return the answers' seqs."""
    seqs = []
    for k in range(n):
        chats = [{"role": "user", "msg": f"question {k}"}, {"role": "ai", "msg": f"answer {k}"}]
        reply = ok(api, "/add_chats", user_id=user_id, session_id=session_id, chats=chats)
        seqs.append(reply["seqs"][1])
    return seqs


def test_list_feedback_pages_exactly_across_ties(fresh: Any) -> None:
    users = [f"f{uuid.uuid4().hex[:6]}{n}" for n in range(2)]
    keys = []
    for user_id in users:
        ok(fresh, "/add_user", user_id=user_id, user_name="rater")
        for session_id in ("a.1", "b.2"):
            for seq in _turns(fresh, user_id, session_id, 3):
                rating = "dislike" if seq % 4 == 2 else "like"
                ok(
                    fresh,
                    "/rate_chat",
                    user_id=user_id,
                    session_id=session_id,
                    seq=seq,
                    rating=rating,
                    comment=f"c{seq}",
                )
                keys.append((user_id, session_id, seq, rating))
    # Four times: ties across users, sessions and seqs.
    at = {k: T0 + n % 4 for n, k in enumerate(keys)}
    for (user_id, session_id, seq, _), when in at.items():
        sql(
            fresh,
            "UPDATE chat_messages SET rated_at = :at WHERE user_id = :u AND "
            "session_id = :s AND seq = :q",
            at=when,
            u=user_id,
            s=session_id,
            q=seq,
        )
    order = sorted(keys, key=lambda k: (at[k], k[0], k[1], k[2]), reverse=True)
    for limit in (1, 3, 5, 100):
        rows = _pages(fresh, "/list_feedback", "feedback", limit)
        assert [(r["user_id"], r["session_id"], r["seq"], r["rating"]) for r in rows] == order
    rows = _pages(fresh, "/list_feedback", "feedback", 2, rating="dislike")
    assert [(r["user_id"], r["session_id"], r["seq"]) for r in rows] == [
        k[:3] for k in order if k[3] == "dislike"
    ]
    first = rows[0]
    assert first["question"] == f"question {first['seq'] // 2 - 1}"
    assert first["msg"] == f"answer {first['seq'] // 2 - 1}"
    assert first["comment"] == f"c{first['seq']}"
    assert first["session_title"] == "question 0"
    since = ok(fresh, "/list_feedback", since="2026-09-21T14:13:20.002Z")["feedback"]
    assert {r["rated_at"] for r in since} == {
        "2026-09-21T14:13:20.002Z",
        "2026-09-21T14:13:20.003Z",
    }
    # Clearing a rating takes the reply off the list.
    user_id, session_id, seq, _ = order[0]
    ok(fresh, "/rate_chat", user_id=user_id, session_id=session_id, seq=seq, rating="")
    assert len(_pages(fresh, "/list_feedback", "feedback", 100)) == len(order) - 1


def test_a_fresh_rating_is_listed_first(fresh: Any) -> None:
    user_id = fresh.new_user()
    seqs = _turns(fresh, user_id, "s1", 2)
    for seq in reversed(seqs):
        ok(fresh, "/rate_chat", user_id=user_id, session_id="s1", seq=seq, rating="like")
    rows = ok(fresh, "/list_feedback")["feedback"]
    assert [r["seq"] for r in rows] == [seqs[0], seqs[1]]
    assert rows[0]["rated_at"] >= rows[1]["rated_at"]


def test_bad_fields_are_ok_1(fresh: Any) -> None:
    for path, fields in [
        ("/list_users", {"limit": 101}),
        ("/list_users", {"cursor": "nope"}),
        ("/list_feedback", {"rating": "meh"}),
        ("/list_feedback", {"since": "yesterday"}),
        ("/list_feedback", {"since": "2026-13-01T00:00:00.000Z"}),
        ("/list_feedback", {"cursor": ok(fresh, "/list_users", limit=1)["next_cursor"] or "x"}),
        ("/usage_stats", {"days": 0}),
        ("/usage_stats", {"days": 367}),
        ("/usage_stats", {"user_id": "u1"}),
    ]:
        assert fresh.call(path, **fields)["ok"] == 1, (path, fields)


def _today(zone: str = "Asia/Shanghai") -> str:
    return dt.datetime.now(ZoneInfo(zone)).date().isoformat()


def test_usage_stats_counts_what_was_written(fresh: Any) -> None:
    empty = ok(fresh, "/usage_stats", days=7)
    assert [d["date"] for d in empty["days"]][-1] == _today()
    assert len(empty["days"]) == 7 and empty["days"] == sorted(
        empty["days"], key=lambda d: d["date"]
    )
    assert empty["totals"]["messages"] == 0
    users = [fresh.new_user() for _ in range(3)]
    for user_id in users[:2]:
        seqs = _turns(fresh, user_id, "s1", 2)
        ok(fresh, "/rate_chat", user_id=user_id, session_id="s1", seq=seqs[0], rating="like")
        ok(fresh, "/rate_chat", user_id=user_id, session_id="s1", seq=seqs[1], rating="dislike")
    chats = [{"role": "user", "msg": "q"}, {"role": "ai", "msg": "", "status": "streaming"}]
    ok(fresh, "/add_chats", user_id=users[0], session_id="s2", chats=chats)
    chats[1] = {"role": "ai", "msg": "", "status": "failed"}
    ok(fresh, "/add_chats", user_id=users[0], session_id="s3", chats=chats)
    # A placeholder whose back end died long ago reads failed; its day is its creation's.
    stale = ok(
        fresh,
        "/add_chats",
        user_id=users[1],
        session_id="s4",
        chats=[chats[0], {"role": "ai", "msg": "", "status": "streaming"}],
    )
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    sql(
        fresh,
        "UPDATE chat_messages SET created_at = :at WHERE user_id = :u AND "
        "session_id = 's4' AND seq = 2",
        at=now - 3_600_000,
        u=users[1],
    )
    assert stale["seqs"] == [1, 2]
    day = dt.datetime.fromtimestamp(now / 1000 - 3600, ZoneInfo("Asia/Shanghai")).date()
    for user_id, model, prompt, completion in [
        (users[0], "fake-chat", 10, 20),
        (users[1], "fake-chat", 1, 2),
        (users[1], "r1", 5, 6),
    ]:
        sql(
            fresh,
            "INSERT INTO ai_usage (user_id, day, model, prompt_tokens, "
            "completion_tokens) VALUES (:u, :d, :m, :p, :c)",
            u=user_id,
            d=_today(),
            m=model,
            p=prompt,
            c=completion,
        )
    stats = ok(fresh, "/usage_stats", days=7)
    today = stats["days"][-1]
    by_date = {d["date"]: d for d in stats["days"]}
    totals = stats["totals"]
    assert totals["messages"] == 8 + 2 + 2 + 2
    assert (totals["new_users"], totals["active_users"]) == (3, 2)
    assert (totals["likes"], totals["dislikes"]) == (2, 2)
    assert totals["replies"] == {"complete": 4, "streaming": 1, "failed": 2}
    assert totals["tokens"] == {
        "fake-chat": {"prompt": 11, "completion": 22},
        "r1": {"prompt": 5, "completion": 6},
    }
    assert today["tokens"] == totals["tokens"]
    assert by_date[day.isoformat()]["replies"].get("failed", 0) >= 1
    assert (today["new_users"], today["likes"], today["dislikes"]) == (3, 2, 2)
    assert sum(d["messages"] for d in stats["days"]) == totals["messages"]
    assert len(ok(fresh, "/usage_stats")["days"]) == 30  # the default
    assert len(ok(fresh, "/usage_stats", days=366)["days"]) == 366


def test_a_user_token_gets_ok_4_and_the_service_key_ok_0(secured: Any) -> None:
    token = login(secured)["token"]
    for path, fields in [
        ("/list_users", {}),
        ("/list_feedback", {"rating": "like"}),
        ("/usage_stats", {"days": 1}),
    ]:
        mine = send(secured, path, fields, token).json()
        assert (mine["ok"], mine["failed"]) == (
            4,
            "authorization: the operator's routes need the service key",
        ), mine
        assert send(secured, path, {**fields, "user_id": "x"}, token).json()["ok"] == 1
        assert send(secured, path, fields, SERVICE_KEY).json()["ok"] == 0
        assert secured.post(path, fields, headers={"authorization": ""}).json()["ok"] == 3


def _outward_address() -> str:
    """Return an address of this machine that is not loopback (where a packet to the
    documentation network would leave from; nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        address = probe.getsockname()[0]
    assert not address.startswith("127."), "this machine has no address but loopback"
    return address


def test_with_auth_off_they_answer_this_machine_only(databases: Any) -> None:
    address, port = _outward_address(), free_port()
    url = databases.create("sqlite")
    settings = Settings(
        database_url=url,
        host="0.0.0.0",
        port=port,
        allow_no_auth=True,
        allowed_hosts=f"{address}:{port}",
    )
    migrate(settings)
    config = uvicorn.Config(
        create_app(settings),
        host="0.0.0.0",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=False,
    )
    server, thread = start_in_thread(config, "auth-off server")
    try:
        with httpx.Client(timeout=30) as http:
            local = f"http://127.0.0.1:{port}"
            remote = f"http://{address}:{port}"
            for path in ("/list_users", "/list_feedback", "/usage_stats"):
                assert http.post(local + path, json={}).json()["ok"] == 0
                far = http.post(remote + path, json={})
                assert far.status_code == 403
                assert far.json()["failed"].startswith("authorization: auth is off"), far.json()
                proxied = http.post(local + path, json={}, headers={"x-forwarded-for": address})
                assert proxied.json()["ok"] == 4
                assert http.post(remote + path, json={"limit": 0}).json()["ok"] == 1  # fields first
            # The other routes answer from there as before.
            body = {"user_id": "u-far", "user_name": "far"}
            assert http.post(remote + "/add_user", json=body).json()["ok"] == 0
    finally:
        server.should_exit = True
        thread.join(timeout=30)
