"""Keeping the list in order (API.md §5.4): /rename_session, /pin_session, /rate_chat, on
every store.

A renamed session keeps the title given from then on (user messages that come later do not
change it), and its place in the list stays. Pinned sessions come first, most recently
pinned first, then the others by activity; pinning moves no ``updated_at``, and paging is
exact across the boundary between the two.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from .chats_cases import walk
from .helpers import fails, insert_sessions, next_millisecond, ok

if TYPE_CHECKING:
    from conftest import Api


def titles(api: Api, user: str) -> list[tuple[str, str]]:
    rows = ok(api, "/query_session_names", user_id=user)["sessions"]
    return [(s["session_id"], s["session_title"]) for s in rows]


def test_a_renamed_session_keeps_its_title_and_its_place(api: Api, user: str) -> None:
    ok(api, "/add_chat", user_id=user, session_id="a", role="user", msg="first question")
    next_millisecond()
    ok(api, "/add_chat", user_id=user, session_id="b", role="user", msg="second question")
    before = ok(api, "/query_session_names", user_id=user)["sessions"]
    reply = ok(api, "/rename_session", user_id=user, session_id="a", session_title="巴黎之旅 ✈")
    assert (reply["session_id"], reply["session_title"]) == ("a", "巴黎之旅 ✈")
    after = ok(api, "/query_session_names", user_id=user)["sessions"]
    assert [s["session_id"] for s in after] == ["b", "a"]
    assert after[1]["updated_at"] == before[1]["updated_at"]
    ok(api, "/add_chat", user_id=user, session_id="a", role="user", msg="more")
    info = ok(api, "/query_session_info", user_id=user, session_id="a")
    assert info["session_title"] == "巴黎之旅 ✈"
    assert titles(api, user) == [("a", "巴黎之旅 ✈"), ("b", "second question")]


def test_a_session_with_no_title_yet_takes_the_one_given(api: Api, user: str) -> None:
    ok(api, "/add_chat", user_id=user, session_id="c", role="system", msg="be terse")
    ok(api, "/rename_session", user_id=user, session_id="c", session_title="Notes")
    ok(api, "/add_chat", user_id=user, session_id="c", role="user", msg="a question")
    assert titles(api, user) == [("c", "Notes")]


def test_rename_rules(api: Api, user: str) -> None:
    ok(api, "/add_chat", user_id=user, session_id="d", role="user", msg="q")
    assert fails(api, "/rename_session", 1, user_id=user, session_id="d", session_title="")[
        "failed"
    ].startswith("session_title:")
    fails(api, "/rename_session", 6, user_id=user, session_id="d", session_title="t" * 101)
    ok(api, "/rename_session", user_id=user, session_id="d", session_title="t" * 100)
    fails(api, "/rename_session", 2, user_id=user, session_id="nope", session_title="x")
    fails(api, "/rename_session", 2, user_id="nobody-here", session_id="d", session_title="x")


def test_feedback_on_an_answer(api: Api, user: str) -> None:
    turn = [{"role": "user", "msg": "q"}, {"role": "ai", "msg": "a"}]
    ok(api, "/add_chats", user_id=user, session_id="r", chats=turn)
    next_millisecond()
    ok(api, "/add_chat", user_id=user, session_id="other", role="user", msg="later")
    key = {"user_id": user, "session_id": "r"}
    reply = ok(api, "/rate_chat", **key, seq=2, rating="dislike", comment="太长了 😀")
    assert (reply["seq"], reply["rating"]) == (2, "dislike")
    answer = ok(api, "/query_session_info", **key)["chats"][1]
    assert (answer["rating"], answer["comment"]) == ("dislike", "太长了 😀")
    exported = ok(api, "/export_user_data", user_id=user)["sessions"]
    assert [c for s in exported if s["session_id"] == "r" for c in s["chats"]][1] == answer
    ok(api, "/rate_chat", **key, seq=2, rating="like")
    answer = ok(api, "/query_session_info", **key)["chats"][1]
    assert answer["rating"] == "like" and "comment" not in answer
    ok(api, "/rate_chat", **key, seq=2, rating="")
    answer = ok(api, "/query_session_info", **key)["chats"][1]
    assert "rating" not in answer and "comment" not in answer
    # rating moves nothing in the list
    assert [s for s, _ in titles(api, user)] == ["other", "r"]
    assert fails(api, "/rate_chat", 11, **key, seq=1, rating="like")["failed"].startswith("seq:")
    fails(api, "/rate_chat", 2, **key, seq=9, rating="like")
    fails(api, "/rate_chat", 1, **key, seq=2, rating="meh")
    fails(api, "/rate_chat", 1, **key, seq=2, rating="", comment="why")
    fails(api, "/rate_chat", 6, **key, seq=2, rating="like", comment="c" * 1_001)


# -- /pin_session ---------------------------------------------------------------------------


def listed(api: Api, user: str) -> list[tuple[str, bool]]:
    body = ok(api, "/query_session_names", user_id=user, limit=1000)
    assert body["next_cursor"] == ""
    return [(s["session_id"], s["pinned"]) for s in body["sessions"]]


def stamps(api: Api, user: str) -> dict[str, str]:
    rows = ok(api, "/query_session_names", user_id=user, limit=1000)["sessions"]
    return {s["session_id"]: s["updated_at"] for s in rows}


def pin(api: Api, user: str, session_id: str, pinned: bool = True, **more: Any) -> dict:
    reply = ok(api, "/pin_session", user_id=user, session_id=session_id, pinned=pinned, **more)
    assert (reply["session_id"], reply["pinned"]) == (session_id, pinned)
    return reply


def test_pinned_first_most_recently_pinned_first_and_back(api: Api, user: str) -> None:
    for sid in ("a", "b", "c"):
        ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg=f"about {sid}")
        next_millisecond()
    before = stamps(api, user)
    assert listed(api, user) == [("c", False), ("b", False), ("a", False)]
    pin(api, user, "a")
    assert listed(api, user) == [("a", True), ("c", False), ("b", False)]
    next_millisecond()
    pin(api, user, "b")
    assert listed(api, user) == [("b", True), ("a", True), ("c", False)]
    next_millisecond()
    pin(api, user, "a")  # already pinned: it keeps its pin's time, and its place
    assert listed(api, user) == [("b", True), ("a", True), ("c", False)]
    pin(api, user, "b", pinned=False)  # back to its place by activity
    assert listed(api, user) == [("a", True), ("c", False), ("b", False)]
    pin(api, user, "b", pinned=False)  # not pinned: nothing to do, still ok
    pin(api, user, "a", pinned=False)
    assert listed(api, user) == [("c", False), ("b", False), ("a", False)]
    assert stamps(api, user) == before  # pinning moves no updated_at


def test_a_pinned_session_stays_pinned_when_it_changes(api: Api, user: str) -> None:
    for sid in ("a", "b", "c"):
        ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg=f"about {sid}")
        next_millisecond()
    pin(api, user, "a")
    next_millisecond()
    pin(api, user, "b")
    next_millisecond()
    ok(api, "/add_chat", user_id=user, session_id="a", role="ai", msg="more about a")
    assert listed(api, user) == [("b", True), ("a", True), ("c", False)]
    ok(api, "/rename_session", user_id=user, session_id="a", session_title="A")
    ok(api, "/add_chat", user_id=user, session_id="c", role="user", msg="more about c")
    assert listed(api, user) == [("b", True), ("a", True), ("c", False)]
    pin(api, user, "a", pinned=False)  # its last message is newer than c's first only
    assert listed(api, user) == [("b", True), ("c", False), ("a", False)]
    pin(api, user, "b", pinned=False)
    assert listed(api, user) == [("c", False), ("a", False), ("b", False)]
    pin(api, user, "c")
    ok(api, "/delete_specific_session", user_id=user, session_id="c")
    assert listed(api, user) == [("a", False), ("b", False)]


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_paging_is_exact_across_the_pinned_boundary(api: Api, user: str) -> None:
    t = int(time.time() * 1000) - 60_000
    # pb and pa are pinned at one time; pc's pin time is ub's and uc's updated_at, pd's is
    # ud's; pb was active after every unpinned session, ua after every pinned one was.
    insert_sessions(
        api,
        user,
        [
            ("pa", t - 50, t + 10),
            ("pb", t + 20, t + 10),
            ("pc", t - 5, t),
            ("pd", t, t - 100),
            ("ua", t + 30, None),
            ("ub", t, None),
            ("uc", t, None),
            ("ud", t - 100, None),
            ("ue", t - 200, None),
        ],
        created_before=1,
    )
    order = ["pb", "pa", "pc", "pd", "ua", "uc", "ub", "ud", "ue"]
    rows = walk(api, user, 1000)
    assert [(r["session_id"], r["pinned"]) for r in rows] == [
        (sid, sid.startswith("p")) for sid in order
    ]
    for limit in range(1, len(order) + 2):
        assert [r["session_id"] for r in walk(api, user, limit)] == order, limit
    # a page that ends on the last pinned session goes on into the others
    page = ok(api, "/query_session_names", user_id=user, limit=4)
    assert page["next_cursor"] != ""
    rest = ok(api, "/query_session_names", user_id=user, cursor=page["next_cursor"])
    assert [r["session_id"] for r in rest["sessions"]] == order[4:]
    assert rest["next_cursor"] == ""
    # the cursor's two forms: as before for the others (older cursors stay valid), "p" first
    # for a pinned position
    after_ub = ok(api, "/query_session_names", user_id=user, cursor=cursor(f"{t}.ub"))
    assert [r["session_id"] for r in after_ub["sessions"]] == ["ud", "ue"]
    after_pa = ok(api, "/query_session_names", user_id=user, cursor=cursor(f"p{t + 10}.pa"))
    assert [r["session_id"] for r in after_pa["sessions"]] == order[2:]
    for garbage in ("p", "p.pa", "pp1.pa", "p-1.pa", "p+1.pa", "p 1.pa", "P1.pa", "1e3.pa"):
        fails(api, "/query_session_names", 1, user_id=user, cursor=cursor(garbage))
    fails(api, "/query_session_names", 1, user_id=user, cursor=cursor("p" + "9" * 5000 + ".pa"))


def test_only_pinned_sessions_end_with_no_cursor(api: Api, user: str) -> None:
    for sid in ("a", "b"):
        ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg="q")
        pin(api, user, sid)
        next_millisecond()
    page = ok(api, "/query_session_names", user_id=user, limit=2)
    assert [r["session_id"] for r in page["sessions"]] == ["b", "a"]
    assert page["next_cursor"] == ""
    page = ok(api, "/query_session_names", user_id=user, limit=1)
    assert page["next_cursor"] != ""
    rest = ok(api, "/query_session_names", user_id=user, limit=1, cursor=page["next_cursor"])
    assert ([r["session_id"] for r in rest["sessions"]], rest["next_cursor"]) == (["a"], "")


def test_pin_rules(api: Api, user: str) -> None:
    ok(api, "/add_chat", user_id=user, session_id="d", role="user", msg="q")
    for wrong in ("true", 1, 0, None):
        body = fails(api, "/pin_session", 1, user_id=user, session_id="d", pinned=wrong)
        assert body["failed"].startswith("pinned"), body
    fails(api, "/pin_session", 1, user_id=user, session_id="d")
    fails(api, "/pin_session", 1, user_id=user, session_id="d", pinned=True, at=1)
    fails(api, "/pin_session", 1, user_id=user, session_id="a b", pinned=True)
    body = fails(api, "/pin_session", 2, user_id=user, session_id="nope", pinned=True)
    assert body["failed"] == "session_id: no such session for this user"
    fails(api, "/pin_session", 2, user_id=user, session_id="nope", pinned=False)
    fails(api, "/pin_session", 2, user_id="nobody-here", session_id="d", pinned=True)
    assert listed(api, user) == [("d", False)]


def test_a_retried_pin_gets_its_recorded_reply(api: Api, user: str) -> None:
    for sid in ("a", "b"):
        ok(api, "/add_chat", user_id=user, session_id=sid, role="user", msg="q")
        next_millisecond()
    first = pin(api, user, "a", request_id="pin-a-1")
    pin(api, user, "a", pinned=False, request_id="unpin-a-1")
    again = pin(api, user, "a", request_id="pin-a-1")  # a retry: answered, not run again
    assert again == first
    assert listed(api, user) == [("b", False), ("a", False)]
    body = fails(
        api, "/pin_session", 5, user_id=user, session_id="a", pinned=False, request_id="pin-a-1"
    )
    assert body["request_id"] == "pin-a-1"
