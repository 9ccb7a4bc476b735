"""huihua.client against a real server with auth on: typed replies, errors with their facts,
retries with the same request_id (a reply lost after the server handled the request, ok 7
with Retry-After), the cursor iterators, and the table matching the server's endpoints.

A reply is lost by the test's transport (lossy.py) after the real server has answered.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest

from huihua import errors
from huihua.client import ENDPOINTS, AsyncClient, Client, NoReply, UserInfo
from huihua.client.endpoints import BY_NAME
from huihua.wire import replies

from .access import login
from .conftest import SERVICE_KEY, secure_settings
from .helpers import ENDPOINTS as SERVER
from .lossy import AsyncLossyTransport, LossyTransport, Seen

if TYPE_CHECKING:
    from .conftest import Api
    from .fake_wechat import FakeWeChat


@pytest.fixture(scope="module")
def server(serve: Any, wechat: FakeWeChat) -> Api:
    return serve("sqlite", **secure_settings(wechat, rate_limit_user=0, rate_limit_address=0))


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def client(server: Api, seen: Seen) -> Any:
    with Client(
        server.base_url, service_key=SERVICE_KEY, backoff=0.01, transport=LossyTransport(seen)
    ) as c:
        yield c


def _user(client: Client, **profile: Any) -> str:
    user_id = f"u-{uuid.uuid4().hex}"
    assert client.add_user(user_id=user_id, user_name="tester", **profile).created
    return user_id


# -- the table -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SERVER))
def test_a_method_per_server_endpoint_with_its_fields_and_reply(path: str) -> None:
    ours = BY_NAME[path[1:]]
    theirs = SERVER[path]
    assert ours.path == path
    if theirs.strict:
        fields = {f.encode_name for f in msgspec.inspect.type_info(theirs.request).fields}
        assert set(ours.fields or ()) == fields - {"request_id"}
    assert ours.reply is theirs.reply or issubclass(UserInfo, theirs.reply)
    assert callable(getattr(Client, ours.name)) and callable(getattr(AsyncClient, ours.name))


def test_the_table_names_each_endpoint_by_its_path() -> None:
    for endpoint in ENDPOINTS:
        assert endpoint.path == "/" + endpoint.name
        assert endpoint.reply is dict or issubclass(endpoint.reply, replies.Envelope)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.path not in SERVER], ids=str)
def test_an_endpoint_not_on_the_server_yet_answers_ok_2(client: Client, endpoint: Any) -> None:
    with pytest.raises(errors.NotFound) as raised:
        client.call(endpoint, {"user_id": "u1"})
    assert (raised.value.ok, raised.value.status) == (2, 404)


def test_a_field_the_endpoint_does_not_take_is_refused_before_sending(
    client: Client, seen: Seen
) -> None:
    with pytest.raises(TypeError, match="colour"):
        client.add_chat(user_id="u", role="user", msg="x", colour="red")
    assert seen.sent == []


# -- typed replies on a real server ------------------------------------------------------------


def test_a_conversation_round_trips_as_typed_replies(client: Client) -> None:
    user_id = _user(client, avatar_url="https://example.com/a.png")
    info = client.query_user_info(user_id=user_id)
    assert isinstance(info, UserInfo)
    assert (info.user_name, info.profile) == ("tester", {"avatar_url": "https://example.com/a.png"})
    first = client.add_chat(user_id=user_id, role="user", msg="你好", meta={"client": 1})
    assert isinstance(first, replies.AddChatReply) and first.seq == 1
    turn = client.add_chats(
        user_id=user_id,
        session_id=first.session_id,
        chats=[
            {"role": "user", "msg": "看图", "parts": [{"type": "image", "url": "https://x/a.png"}]},
            {
                "role": "ai",
                "msg": "",
                "tool_calls": [{"id": "c1", "name": "look", "arguments": '{"n": 1}'}],
            },
            {"role": "tool", "msg": "a cat", "tool_call_id": "c1", "name": "look"},
            {"role": "ai", "msg": "", "status": "streaming"},
        ],
    )
    assert isinstance(turn, replies.AddChatsReply) and turn.seqs == [2, 3, 4, 5]
    done = client.update_chat(
        user_id=user_id, session_id=first.session_id, seq=5, msg="是一只猫", status="complete"
    )
    assert isinstance(done, replies.UpdateChatReply) and done.seq == 5
    page = client.query_session_info(user_id=user_id, session_id=first.session_id)
    assert isinstance(page, replies.SessionInfoReply)
    assert [c.role for c in page.chats] == ["user", "user", "ai", "tool", "ai"]
    assert page.chats[0].meta == {"client": 1}
    assert page.chats[1].parts == [{"type": "image", "url": "https://x/a.png"}]
    assert page.chats[2].tool_calls == [{"id": "c1", "name": "look", "arguments": '{"n": 1}'}]
    assert (page.chats[3].tool_call_id, page.chats[3].name) == ("c1", "look")
    assert (page.chats[4].msg, page.chats[4].status) == ("是一只猫", "complete")
    gone = client.delete_chat(user_id=user_id, session_id=first.session_id, from_seq=4)
    assert gone.ok == 0
    names = client.query_session_names(user_id=user_id)
    assert [(s.session_title, s.chat_count) for s in names.sessions] == [("你好", 3)]
    assert client.delete_sessions(user_id=user_id).deleted == 1
    assert client.delete_user(user_id=user_id).ok == 0


def test_the_iterators_follow_the_cursors(client: Client, seen: Seen) -> None:
    user_id = _user(client)
    for sid in ("a", "b", "c", "d", "e"):
        client.add_chat(user_id=user_id, session_id=sid, role="user", msg=f"in {sid}")
    for i in range(2, 8):
        client.add_chat(user_id=user_id, session_id="e", role="ai", msg=f"m{i}")
    assert [s.session_id for s in client.sessions(user_id=user_id, limit=2)] == list("edcba")
    assert len(seen.to("/query_session_names")) == 3
    chats = list(client.messages(user_id=user_id, session_id="e", limit=3))
    assert [c.seq for c in chats] == [7, 6, 5, 4, 3, 2, 1]
    assert len(seen.to("/query_session_info")) == 3


def test_the_async_client_does_the_same(server: Api, seen: Seen) -> None:
    async def main() -> None:
        transport = AsyncLossyTransport(seen)
        async with AsyncClient(
            server.base_url, service_key=SERVICE_KEY, backoff=0.01, transport=transport
        ) as client:
            user_id = f"u-{uuid.uuid4().hex}"
            await client.add_user(user_id=user_id, user_name="tester")
            seen.drop("/add_chat")
            reply = await client.add_chat(user_id=user_id, session_id="s", role="user", msg="hi")
            assert reply.seq == 1
            for i in range(2, 6):
                await client.add_chat(user_id=user_id, session_id="s", role="ai", msg=f"m{i}")
            got = [c.seq async for c in client.messages(user_id=user_id, session_id="s", limit=2)]
            assert got == [5, 4, 3, 2, 1]
            assert [s.session_id async for s in client.sessions(user_id=user_id)] == ["s"]
            assert (await client.healthz()).ok == 0

    asyncio.run(main())
    first, retry = seen.to("/add_chat")[:2]
    assert first[1] == retry[1] and first[3] and not retry[3]


# -- errors and retries --------------------------------------------------------------------------


def test_errors_carry_ok_failed_status_and_request_id(client: Client, server: Api) -> None:
    with pytest.raises(errors.NotFound) as raised:
        client.add_chat(user_id="nobody", role="user", msg="hi", request_id="rid-404")
    error = raised.value
    assert (error.ok, error.status, error.request_id) == (2, 404, "rid-404")
    assert "add_user" in error.failed
    with pytest.raises(errors.InvalidRequest) as raised:
        client.add_chat(user_id="u", role="user", msg="x", session_id="bad id!")
    assert (raised.value.ok, raised.value.status) == (1, 400)
    assert raised.value.request_id.startswith("py-")
    with (
        Client(server.base_url, token="not-a-token") as stranger,
        pytest.raises(errors.Unauthenticated),
    ):
        stranger.query_session_names()
    token = login(server)["token"]
    with Client(server.base_url, token=token) as user:
        assert user.query_session_names().sessions == []
        with pytest.raises(errors.Forbidden) as raised:
            user.query_session_names(user_id="someone-else")
        assert raised.value.status == 403


def test_a_lost_reply_is_sent_again_with_its_request_id_and_written_once(
    client: Client, seen: Seen
) -> None:
    user_id = _user(client)
    seen.drop("/add_chat", times=2)
    reply = client.add_chat(user_id=user_id, session_id="s", role="user", msg="once")
    assert reply.seq == 1
    sent = seen.to("/add_chat")
    assert [(status, lost) for _, _, status, lost in sent] == [
        (200, True),
        (200, True),
        (200, False),
    ]
    assert len({rid for _, rid, _, _ in sent}) == 1
    chats = client.query_session_info(user_id=user_id, session_id="s").chats
    assert [c.msg for c in chats] == ["once"]


def test_each_call_gets_its_own_request_id(client: Client, seen: Seen) -> None:
    user_id = _user(client)
    client.add_chat(user_id=user_id, session_id="s", role="user", msg="a")
    client.add_chat(user_id=user_id, session_id="s", role="user", msg="b")
    assert len({rid for _, rid, _, _ in seen.to("/add_chat")}) == 2


def test_a_retried_delete_user_that_answers_ok_2_is_done(client: Client, seen: Seen) -> None:
    user_id = _user(client)
    seen.drop("/delete_user")
    assert client.delete_user(user_id=user_id).ok == 0
    assert [status for _, _, status, _ in seen.to("/delete_user")] == [200, 404]
    with pytest.raises(errors.NotFound):  # not on a first try: that user never was
        client.delete_user(user_id=user_id)


def test_no_reply_at_all_raises_no_reply_after_the_retries() -> None:
    seen = Seen()
    with (
        Client("http://127.0.0.1:9", retries=2, backoff=0.01, transport=LossyTransport(seen)) as c,
        pytest.raises(NoReply) as raised,
    ):
        c.query_session_names(user_id="u", request_id="rid-none")
    assert (raised.value.ok, raised.value.request_id) == (-1, "rid-none")
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def test_ok_7_is_sent_again_after_retry_after(serve: Any, wechat: FakeWeChat) -> None:
    api = serve("sqlite", **secure_settings(wechat, rate_limit_user=60, rate_limit_address=0))
    token = login(api)["token"]
    seen = Seen()
    with Client(api.base_url, token=token, backoff=0.01, transport=LossyTransport(seen)) as c:
        for _ in range(100):  # spend the burst of 60 a minute
            c.http.post("/query_session_names", content=b"{}")
            if seen.sent[-1][2] == 429:
                break
        seen.sent.clear()
        reply = c.add_chat(session_id="busy", role="user", msg="hello")
    assert reply.seq == 1
    statuses = [status for _, _, status, _ in seen.to("/add_chat")]
    assert statuses[0] == 429 and statuses[-1] == 200
    assert len({rid for _, rid, _, _ in seen.to("/add_chat")}) == 1
