"""/query_session_names lists the sessions most recently active first, by keyset pages."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from .chats_cases import chat, names, session_ids, tick, walk
from .helpers import fails, insert_sessions

if TYPE_CHECKING:
    from conftest import Api


# -- /query_session_names -----------------------------------------------------------------


def test_appending_moves_a_session_to_the_top(api: Api, user: str) -> None:
    a = chat(api, user, "a")["session_id"]
    tick()
    b = chat(api, user, "b")["session_id"]
    tick()
    c = chat(api, user, "c")["session_id"]
    assert session_ids(api, user) == [c, b, a]
    tick()
    chat(api, user, "a again", role="ai", session_id=a)
    assert session_ids(api, user) == [a, c, b]
    tick()
    chat(api, user, "b again", session_id=b)
    assert session_ids(api, user) == [b, a, c]


def test_session_rows(api: Api, user: str) -> None:
    first = chat(api, user, "row test")
    sid = first["session_id"]
    tick()
    last = chat(api, user, "reply", role="ai", session_id=sid)
    body = names(api, user)
    assert set(body) == {"request_id", "ok", "failed", "sessions", "next_cursor"}
    assert body["next_cursor"] == ""
    assert body["sessions"] == [
        {
            "session_id": sid,
            "session_title": "row test",
            "created_at": first["created_at"],
            "updated_at": last["created_at"],
            "chat_count": 2,
            "pinned": False,
        }
    ]
    assert first["created_at"] < last["created_at"]


def test_limit_default_is_100(api: Api, user: str) -> None:
    made = []
    for i in range(101):
        made.append(chat(api, user, f"session {i}")["session_id"])
        tick()
    newest_first = list(reversed(made))
    first = names(api, user)
    assert [r["session_id"] for r in first["sessions"]] == newest_first[:100]
    assert first["next_cursor"] != ""
    rest = names(api, user, cursor=first["next_cursor"])
    assert [r["session_id"] for r in rest["sessions"]] == newest_first[100:]
    assert rest["next_cursor"] == ""
    everything = names(api, user, limit=1000)
    assert [r["session_id"] for r in everything["sessions"]] == newest_first
    assert everything["next_cursor"] == ""
    exact = names(api, user, limit=101)
    assert len(exact["sessions"]) == 101
    assert exact["next_cursor"] == ""


def test_explicit_limit(api: Api, user: str) -> None:
    made = []
    for i in range(4):
        made.append(chat(api, user, f"s{i}")["session_id"])
        tick()
    newest_first = list(reversed(made))
    for limit in (1, 2, 3):
        body = names(api, user, limit=limit)
        assert [r["session_id"] for r in body["sessions"]] == newest_first[:limit]
        assert body["next_cursor"] != ""
    body = names(api, user, limit=4)
    assert [r["session_id"] for r in body["sessions"]] == newest_first
    assert body["next_cursor"] == ""


def test_keyset_paging_visits_every_session_once_in_order(api: Api, user: str) -> None:
    made = []
    for i in range(7):
        made.append(chat(api, user, f"s{i}")["session_id"])
        tick()
    tick()
    chat(api, user, "bump", session_id=made[2])  # reorder: 2 is now the newest
    expected = [made[2], made[6], made[5], made[4], made[3], made[1], made[0]]
    assert session_ids(api, user) == expected
    for limit in (1, 2, 3, 6, 7, 8):
        assert [r["session_id"] for r in walk(api, user, limit)] == expected, limit


def test_paging_through_ties_on_updated_at_is_stable(api: Api, user: str) -> None:
    t = int(time.time() * 1000) - 60_000
    newer = [("n-1", t + 5), ("n-2", t + 5)]
    tied = [(sid, t) for sid in ("a", "B", "b", "Z_9", "0-x", "tie-5", "a_", "A-")]
    older = [("o-1", t - 3), ("o-2", t - 3), ("o-3", t - 7)]
    insert_sessions(api, user, newer + tied + older)
    every = {sid for sid, _ in newer + tied + older}

    full = walk(api, user, 1000)
    order = [r["session_id"] for r in full]
    assert sorted(order) == sorted(every)
    assert set(order[:2]) == {"n-1", "n-2"}
    assert set(order[2:10]) == {sid for sid, _ in tied}
    assert set(order[10:12]) == {"o-1", "o-2"}
    assert order[12] == "o-3"
    stamps = [r["updated_at"] for r in full]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps[2:10])) == 1

    for limit in range(1, len(every) + 1):
        paged = [r["session_id"] for r in walk(api, user, limit)]
        assert len(paged) == len(set(paged)), (limit, paged)  # none repeated
        assert set(paged) == every, (limit, paged)  # none lost
        assert paged == order, (limit, paged)  # the same order on every page size


def test_session_names_of_unknown_user(api: Api) -> None:
    body = fails(api, "/query_session_names", 2, user_id=f"u-{uuid.uuid4().hex}")
    assert "user_id" in body["failed"]


def test_session_names_of_user_without_sessions(api: Api, user: str) -> None:
    body = names(api, user)
    assert body["sessions"] == []
    assert body["next_cursor"] == ""
