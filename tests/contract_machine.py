"""The hypothesis state machine of test_model.py: it drives the server and the model together."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from .contract_model import (
    CLIENT_SESSIONS,
    META,
    MSGS,
    REQUEST_IDS,
    ROLES,
    TITLES,
    Chat,
    Outcome,
    Record,
    Session,
    User,
    Work,
    fingerprint,
    title_of,
)
from .helpers import STATUS, TIMESTAMP, next_millisecond

if TYPE_CHECKING:
    from .conftest import Api


class ContractMachine(RuleBasedStateMachine):
    """Drives the server and the model side by side; any difference fails the run."""

    api: Api  # set by the test before a run

    def __init__(self) -> None:
        super().__init__()
        run = uuid.uuid4().hex[:10]
        self.user_ids = [f"m-{run}-a", f"m-{run}-b"]
        self.users: dict[str, User] = {}
        self.records: dict[tuple[str, str], Record] = {}
        self.writes: list[tuple[str, dict[str, Any]]] = []  # what a retry may send again
        self.pins = 0

    # -- talking to the server ---------------------------------------------------------

    def send(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/pin_session":  # each pin a millisecond of its own: the order is known
            next_millisecond()
        response = self.api.post(path, {k: v for k, v in body.items() if v is not None})
        reply = response.json()
        assert response.status_code == STATUS[reply["ok"]], (path, body, reply)
        if reply["ok"] == 0:
            assert reply["failed"] == "", reply
        else:
            assert reply["failed"], reply
        if body.get("request_id") is not None:
            assert reply["request_id"] == body["request_id"], (body, reply)
        return reply

    def write(self, path: str, body: dict[str, Any], work: Work) -> None:
        """Send a write and compare its reply with the model's (API.md §4).

        ``work()`` says what the write would answer, changing nothing: (ok, fields the reply
        must have, a function that applies the write to the model given the reply), or
        (2, {}, None) for a not-found. A not-found answers before a conflict (API.md §1).
        """
        reply = self.send(path, body)
        self.writes.append((path, body))
        user_id, rid = body["user_id"], body.get("request_id")
        record = self.records.get((user_id, rid)) if rid is not None else None
        if record is not None and record.fingerprint == fingerprint(path, body):
            assert reply == record.reply, ("a replay gets the reply recorded", body, reply)
            return
        ok, expected, finish = work()
        if ok == 0 and record is not None:  # the work would run, but the id is taken
            ok = 5
        assert reply["ok"] == ok, (path, body, reply, ok)
        if ok != 0:
            return
        for name, value in expected.items():
            assert reply[name] == value, (path, name, body, reply, expected)
        if finish is not None:
            finish(reply)
        if rid is not None and path != "/delete_user":
            self.records[(user_id, rid)] = Record(fingerprint(path, body), reply)

    # -- the model's judgement of each write ---------------------------------------------

    def work(self, path: str, body: dict[str, Any]) -> Work:
        """Return what the write would do to the model, not yet done (see :meth:`write`)."""
        user_id = body["user_id"]
        user = self.users.get(user_id)

        def add_user() -> Outcome:
            created = user is None

            def finish(reply: dict[str, Any]) -> None:
                if user is None:
                    self.users[user_id] = User(body["user_name"])
                else:
                    user.user_name = body["user_name"]

            return 0, {"user_id": user_id, "created": created}, finish

        def add_chat() -> Outcome:
            if user is None:
                return 2, {}, None
            session_id = body.get("session_id")
            session = user.sessions.get(session_id) if session_id else None
            expected: dict[str, Any] = {"seq": 1 if session is None else len(session.chats) + 1}
            if session_id:
                expected["session_id"] = session_id

            def finish(reply: dict[str, Any]) -> None:
                at, sid = reply["created_at"], reply["session_id"]
                assert TIMESTAMP.match(at), reply
                role, msg = body["role"], body["msg"]
                derived = title_of(msg) if role == "user" else ""
                s = user.sessions.get(sid)
                if s is None:
                    assert not session_id or sid == session_id, reply
                    assert sid, reply
                    s = user.sessions[sid] = Session(body.get("session_title") or derived, at, at)
                elif s.title == "" and derived:
                    s.title = derived
                s.updated_at = at
                s.chats.append(Chat(role, msg, reply["seq"], at, body.get("meta")))

            return 0, expected, finish

        def delete_specific_session() -> Outcome:
            session_id = body["session_id"]
            if user is None or session_id not in user.sessions:
                return 2, {}, None
            return 0, {}, lambda reply: user.sessions.pop(session_id)

        def pin_session() -> Outcome:
            session = user.sessions.get(body["session_id"]) if user else None
            if session is None:
                return 2, {}, None
            pinned = body["pinned"]

            def finish(reply: dict[str, Any]) -> None:
                if not pinned:
                    session.pinned = None
                elif session.pinned is None:  # pinned again: it keeps its place
                    self.pins += 1
                    session.pinned = self.pins

            return 0, {"session_id": body["session_id"], "pinned": pinned}, finish

        def delete_sessions() -> Outcome:
            if user is None:
                return 2, {}, None
            return 0, {"deleted": len(user.sessions)}, lambda reply: user.sessions.clear()

        def delete_user() -> Outcome:
            if user is None:
                return 2, {}, None

            def finish(reply: dict[str, Any]) -> None:
                del self.users[user_id]
                for key in [k for k in self.records if k[0] == user_id]:
                    del self.records[key]  # API.md §4: its request records go with it

            return 0, {}, finish

        return {
            "/add_user": add_user,
            "/add_chat": add_chat,
            "/pin_session": pin_session,
            "/delete_specific_session": delete_specific_session,
            "/delete_sessions": delete_sessions,
            "/delete_user": delete_user,
        }[path]

    def do(self, path: str, body: dict[str, Any]) -> None:
        self.write(path, body, self.work(path, body))

    # -- rules ---------------------------------------------------------------------------

    def _user(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.user_ids), label="user_id")

    @initialize()
    def users_exist(self) -> None:
        """Start with the users added (add_user and delete_user come and go later)."""
        for user_id in self.user_ids:
            self.do("/add_user", {"user_id": user_id, "user_name": "tester"})

    @rule(data=st.data(), name=st.sampled_from(["tester", "李雷", "x" * 64]), rid=REQUEST_IDS)
    def add_user(self, data: st.DataObject, name: str, rid: str | None) -> None:
        self.do("/add_user", {"user_id": self._user(data), "user_name": name, "request_id": rid})

    @rule(data=st.data())
    def query_user_info(self, data: st.DataObject) -> None:
        user_id = self._user(data)
        reply = self.send("/query_user_info", {"user_id": user_id})
        user = self.users.get(user_id)
        if user is None:
            assert reply["ok"] == 2, reply
            return
        assert reply["ok"] == 0, reply
        assert reply["user_id"] == user_id
        assert reply["user_name"] == user.user_name
        assert reply["phone"] == reply["email"] == ""
        assert TIMESTAMP.match(reply["created_at"]) and TIMESTAMP.match(reply["updated_at"])

    @rule(
        data=st.data(),
        role=ROLES,
        msg=MSGS,
        title=TITLES,
        meta=META,
        rid=REQUEST_IDS,
        how=st.sampled_from(["absent", "empty", "client", "known", "known"]),
    )
    def add_chat(
        self,
        data: st.DataObject,
        role: str,
        msg: str,
        title: str | None,
        meta: dict[str, Any] | None,
        rid: str | None,
        how: str,
    ) -> None:
        user_id = self._user(data)
        session_id: str | None = None
        if how == "empty":
            session_id = ""
        elif how == "client":
            session_id = data.draw(CLIENT_SESSIONS, label="session_id")
        elif how == "known" and self._known_sessions(user_id):
            session_id = data.draw(st.sampled_from(self._known_sessions(user_id)))
        body = {
            "user_id": user_id,
            "role": role,
            "msg": msg,
            "session_id": session_id,
            "session_title": title,
            "meta": meta,
            "request_id": rid,
        }
        self.do("/add_chat", body)

    @precondition(lambda self: any(u.sessions for u in self.users.values()))
    @rule(data=st.data(), role=ROLES, msg=MSGS, rid=REQUEST_IDS)
    def append(self, data: st.DataObject, role: str, msg: str, rid: str | None) -> None:
        """add_chat to a session that exists (the common case, drawn more often)."""
        user_id = data.draw(st.sampled_from([u for u, v in self.users.items() if v.sessions]))
        session_id = data.draw(st.sampled_from(self._known_sessions(user_id)))
        body = {"user_id": user_id, "role": role, "msg": msg, "session_id": session_id}
        self.do("/add_chat", {**body, "request_id": rid})

    @rule(data=st.data(), limit=st.sampled_from([None, 1, 2, 3]))
    def query_session_names(self, data: st.DataObject, limit: int | None) -> None:
        self._check_list(self._user(data), limit)

    def _check_list(self, user_id: str, limit: int | None) -> None:
        """Page through the user's sessions; compare every row and their order."""
        user = self.users.get(user_id)
        body: dict[str, Any] = {"user_id": user_id, "limit": limit}
        if user is None:
            assert self.send("/query_session_names", body)["ok"] == 2
            return
        seen: list[dict[str, Any]] = []
        while True:
            reply = self.send("/query_session_names", body)
            assert reply["ok"] == 0, reply
            page = reply["sessions"]
            assert len(page) <= (limit or 100)
            seen += page
            if not reply["next_cursor"]:
                break
            assert len(page) == limit, ("only a full page has a next page", reply)
            assert len(seen) <= len(user.sessions), ("paging goes on past the end", seen)
            body["cursor"] = reply["next_cursor"]
        items = user.sessions.items()
        pinned = sorted((i for i in items if i[1].pinned), key=lambda i: -(i[1].pinned or 0))
        others = sorted(
            (i for i in items if not i[1].pinned), key=lambda i: (i[1].updated_at, i[0])
        )
        order = [*pinned, *reversed(others)]
        expected = [
            {
                "session_id": sid,
                "session_title": s.title,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
                "chat_count": len(s.chats),
                "pinned": s.pinned is not None,
            }
            for sid, s in order
        ]
        assert seen == expected

    @rule(
        data=st.data(),
        limit=st.sampled_from([None, 1, 2, 5]),
        before=st.sampled_from([None, 1, 2, 3, 5, 2**31 - 1]),
    )
    def query_session_info(
        self, data: st.DataObject, limit: int | None, before: int | None
    ) -> None:
        user_id, session_id = self._session(data)
        body = {"user_id": user_id, "session_id": session_id, "limit": limit, "before_seq": before}
        reply = self.send("/query_session_info", body)
        user = self.users.get(user_id)
        session = user.sessions.get(session_id) if user else None
        if session is None:
            assert reply["ok"] == 2, reply
            return
        assert reply["ok"] == 0, reply
        older = [c for c in session.chats if before is None or c.seq < before]
        page = older[-(limit or 1000) :]
        assert reply["user_id"] == user_id and reply["session_id"] == session_id
        assert reply["session_title"] == session.title
        assert reply["has_more"] == (len(older) > len(page))
        assert reply["chats"] == [
            {"role": c.role, "msg": c.msg, "seq": c.seq, "created_at": c.created_at, "meta": c.meta}
            for c in page
        ]

    @rule(data=st.data(), pinned=st.booleans(), rid=REQUEST_IDS)
    def pin_session(self, data: st.DataObject, pinned: bool, rid: str | None) -> None:
        user_id, session_id = self._session(data)
        body = {"user_id": user_id, "session_id": session_id, "pinned": pinned}
        self.do("/pin_session", {**body, "request_id": rid})

    @precondition(lambda self: any(u.sessions for u in self.users.values()))
    @rule(data=st.data(), pinned=st.sampled_from([True, True, False]))
    def pin_known(self, data: st.DataObject, pinned: bool) -> None:
        """pin_session on a session that exists (pinned again, too, and then listed)."""
        user_id = data.draw(st.sampled_from([u for u, v in self.users.items() if v.sessions]))
        session_id = data.draw(st.sampled_from(self._known_sessions(user_id)))
        self.do("/pin_session", {"user_id": user_id, "session_id": session_id, "pinned": pinned})
        self._check_list(user_id, data.draw(st.sampled_from([None, 1, 2]), label="limit"))

    @rule(data=st.data(), rid=REQUEST_IDS)
    def delete_specific_session(self, data: st.DataObject, rid: str | None) -> None:
        user_id, session_id = self._session(data)
        body = {"user_id": user_id, "session_id": session_id, "request_id": rid}
        self.do("/delete_specific_session", body)

    @rule(data=st.data(), rid=REQUEST_IDS, now=st.sampled_from([False, False, True]))
    def delete_sessions(self, data: st.DataObject, rid: str | None, now: bool) -> None:
        if not now:  # one draw in three: sessions pile up between
            return
        self.do("/delete_sessions", {"user_id": self._user(data), "request_id": rid})

    @rule(data=st.data(), rid=REQUEST_IDS, now=st.sampled_from([False, False, False, True]))
    def delete_user(self, data: st.DataObject, rid: str | None, now: bool) -> None:
        if not now:  # one draw in four: a user lives long enough to have some history
            return
        self.do("/delete_user", {"user_id": self._user(data), "request_id": rid})

    @precondition(lambda self: bool(self.writes))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        """Send a write made before once more, exactly as it was (a mobile client's retry):
        the recorded reply when there is one, else the write judged afresh."""
        path, body = data.draw(st.sampled_from(self.writes), label="retried")
        self.do(path, body)

    def _session(self, data: st.DataObject) -> tuple[str, str]:
        """A user and a session of theirs when there is one; now and then one that is not."""
        known = [(u, sid) for u in self.user_ids for sid in self._known_sessions(u)]
        bogus = [(u, sid) for u in self.user_ids for sid in ("s2", "nope")]
        if known and data.draw(st.sampled_from([True, True, True, False]), label="known"):
            return data.draw(st.sampled_from(known), label="session")
        return data.draw(st.sampled_from(bogus), label="session")

    def _known_sessions(self, user_id: str) -> list[str]:
        user = self.users.get(user_id)
        return sorted(user.sessions) if user else []
