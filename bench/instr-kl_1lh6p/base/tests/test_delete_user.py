"""/delete_user (API.md §5): the user and every row of theirs go, in one transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .access import NONE, answer, login, send, sql
from .conftest import SERVICE_KEY

if TYPE_CHECKING:
    from .conftest import Api

TABLES = ("users", "chat_sessions", "chat_messages", "idempotency_records", "login_codes")


def _rows(api: Api, user_id: str) -> dict[str, int]:
    return {
        table: sql(api, f"SELECT count(*) FROM {table} WHERE user_id = :u", u=user_id)[0][0]
        for table in TABLES
    }


def test_every_row_of_the_user_goes_and_no_one_elses(secured: Api) -> None:
    reply = login(secured)
    user_id, token = reply["user_id"], reply["token"]
    other = login(secured)["user_id"]
    for who in (user_id, other):
        for i in range(3):
            chat = {"request_id": f"{who}-{i}", "user_id": who, "role": "user", "msg": "m"}
            assert secured.call("/add_chat", **chat)["ok"] == 0
    before = _rows(secured, user_id)
    assert all(before[t] > 0 for t in TABLES), before
    assert answer(send(secured, "/delete_user", {"request_id": "bye"}, token)) == 0
    assert _rows(secured, user_id) == dict.fromkeys(TABLES, 0)
    assert _rows(secured, other) == before
    # nothing is left to say the user was there: a retry is simply not found
    assert answer(send(secured, "/delete_user", {"user_id": user_id}, SERVICE_KEY)) == 2


def test_unknown_user_conflict_and_auth_off(secured: Api, api: Api) -> None:
    assert answer(send(secured, "/delete_user", {"user_id": "nobody-here"}, SERVICE_KEY)) == 2
    user_id = secured.new_user()
    used = {"request_id": "once", "user_id": user_id, "role": "user", "msg": "m"}
    assert secured.call("/add_chat", **used)["ok"] == 0
    reused = {"request_id": "once", "user_id": user_id}
    assert answer(send(secured, "/delete_user", reused, SERVICE_KEY)) == 5
    assert secured.call("/query_user_info", user_id=user_id)["ok"] == 0  # nothing deleted
    plain = api.new_user()
    assert answer(send(api, "/delete_user", {"user_id": plain}, NONE)) == 0
    assert api.call("/query_user_info", user_id=plain)["ok"] == 2
