"""Two hosts on one store (API.md §8.5): a reply generated on one is followed and stopped
on the other: through Redis, live; without Redis, from the store (once a second).

Both hosts serve one PostgreSQL database (the server store a deployment of several hosts
shares); the second is made on the first's database without migrating again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from . import sse
from .conftest import Api, model_settings
from .fake_model import FakeModel
from .fake_script import Reply, chinese_pieces, wait_until

pytestmark = pytest.mark.postgresql

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def fake(model: FakeModel) -> Iterator[FakeModel]:
    model.reset()
    yield model
    model.reset()


def _two_hosts(serve: Callable[..., Api], model: FakeModel, **changes: str) -> tuple[Api, Api]:
    a = serve("postgresql", **model_settings(model), **changes)
    b = serve(
        "postgresql",
        database_url=a.settings.database_url,
        migrated=False,
        **model_settings(model),
        **changes,
    )
    return a, b


@pytest.fixture(scope="module")
def shared(serve: Callable[..., Api], model: FakeModel) -> tuple[Api, Api]:
    return _two_hosts(serve, model, redis_url=REDIS_URL)


@pytest.fixture(scope="module")
def apart(serve: Callable[..., Api], model: FakeModel) -> tuple[Api, Api]:
    return _two_hosts(serve, model)


@pytest.mark.redis
def test_a_reply_asked_on_one_host_is_followed_live_on_the_other(
    shared: tuple[Api, Api], fake: FakeModel
):
    a, b = shared
    user = a.new_user()
    pieces = chinese_pieces(40)
    fake.script(Reply(content=pieces, delay_s=0.05))
    body = {"user_id": user, "session_id": "s", "msg": "诗"}
    first = sse.first_events(a, "/ask_ai", body, 3)
    started = time.monotonic()
    follow = {"user_id": user, "session_id": "s", "seq": 2, "after": first[-1].id}
    rest = sse.stream(b, "/follow_reply", follow)
    seconds = time.monotonic() - started
    sse.check_ids(rest, first[-1].id + 1)
    assert not any(e.data.get("replace") for e in rest)  # the events themselves, not a poll
    deltas = [e for e in rest if e.name == "delta"]
    assert len(deltas) > 2 * seconds + 2, (len(deltas), seconds)  # many a second: live
    assert sse.text_of(first + rest)[0] == "".join(pieces)
    whole = sse.stream(b, "/follow_reply", {"user_id": user, "session_id": "s", "seq": 2})
    assert whole[0].data == first[0].data  # the same start, from the other host


@pytest.mark.redis
def test_a_stop_on_the_other_host_stops_the_model(shared: tuple[Api, Api], fake: FakeModel):
    a, b = shared
    user = a.new_user()
    fake.script(Reply(content=chinese_pieces(80), delay_s=0.05))
    sse.first_events(a, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "诗"}, 3)
    stopped = b.call("/stop_reply", user_id=user, session_id="s", seq=2)
    assert (stopped["ok"], stopped["status"]) == (0, "cancelled"), stopped
    wait_until(lambda: fake.disconnects >= 1, "the model's stream is closed")
    events = sse.stream(b, "/follow_reply", {"user_id": user, "session_id": "s", "seq": 2})
    assert events[-1].data["status"] == "cancelled"
    kept = b.call("/query_session_info", user_id=user, session_id="s")["chats"][-1]
    assert kept["status"] == "cancelled" and kept["msg"] == sse.text_of(events)[0] != ""


def test_without_redis_the_other_host_reads_the_store(apart: tuple[Api, Api], fake: FakeModel):
    a, b = apart
    user = a.new_user()
    pieces = chinese_pieces(30)
    fake.script(Reply(content=pieces, delay_s=0.1))
    body = {"user_id": user, "session_id": "s", "seq": 2, "after": 2}
    sse.first_events(a, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "诗"}, 3)
    events = sse.stream(b, "/follow_reply", body)
    assert events[0].name == "delta" and events[0].data["replace"] is True
    assert events[-1].data["status"] == "complete"
    assert sse.text_of(events)[0] == "".join(pieces)


def test_without_redis_a_stop_elsewhere_stops_the_model_at_its_next_flush(
    apart: tuple[Api, Api], fake: FakeModel
):
    a, b = apart
    user = a.new_user()
    fake.script(Reply(content=chinese_pieces(100), delay_s=0.05))
    sse.first_events(a, "/ask_ai", {"user_id": user, "session_id": "s", "msg": "诗"}, 3)
    stopped = b.call("/stop_reply", user_id=user, session_id="s", seq=2)
    assert (stopped["ok"], stopped["status"]) == (0, "cancelled"), stopped
    wait_until(lambda: fake.disconnects >= 1, "the model's stream is closed", timeout_s=5)
    events = sse.stream(a, "/follow_reply", {"user_id": user, "session_id": "s", "seq": 2})
    assert events[-1].data["status"] == "cancelled"
    kept = a.call("/query_session_info", user_id=user, session_id="s")["chats"][-1]
    assert kept["status"] == "cancelled" and kept["msg"] == sse.text_of(events)[0] != ""
