"""huihua.langchain against a real server with auth on: every LangChain message type maps to
API.md §5.1 and back exactly; what huihua cannot keep raises ValueError with nothing
written; a turn is one /add_chats (all or none, once however often it is sent); and
LangChain's own RunnableWithMessageHistory over a fake chat model keeps its turns, sync and
async (on either client), and raises a failed write once ``raise_history_errors`` is on.
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from langchain_core._api import LangChainDeprecationWarning
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tracers.root_listeners import AsyncRootListenersTracer, RootListenersTracer

from huihua import errors
from huihua.client import AsyncClient, Client
from huihua.langchain import HuihuaChatMessageHistory, raise_history_errors

from .conftest import SERVICE_KEY, secure_settings
from .lossy import AsyncLossyTransport, LossyTransport, Seen

if TYPE_CHECKING:
    from .conftest import Api
    from .fake_wechat import FakeWeChat

IMAGE = "https://cdn.example.com/cat.png"
JPEG = "https://cdn.example.com/b.jpg"
EXACT: dict[str, list[BaseMessage]] = {
    "string content": [SystemMessage("be brief"), HumanMessage("你好"), AIMessage("hello")],
    "text then images": [
        HumanMessage(
            [
                {"type": "text", "text": "what is in these?"},
                {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}},
                {
                    "type": "image",
                    "url": "https://cdn.example.com/b.jpg",
                    "mime_type": "image/jpeg",
                },
            ]
        )
    ],
    "tool calls and empty text, then the tool": [
        HumanMessage("what is 6 times 7?", id="h-1"),
        AIMessage(
            "",
            tool_calls=[{"name": "multiply", "args": {"a": 6, "b": 7}, "id": "call_1"}],
            id="run-1",
            usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
            response_metadata={"model_name": "fake-1", "finish_reason": "tool_calls"},
        ),
        ToolMessage("42", tool_call_id="call_1", name="multiply"),
        ToolMessage("oops", tool_call_id="call_2", status="error", artifact={"code": 1}),
        AIMessage("6 × 7 = 42", additional_kwargs={"reasoning_content": "6*7 is 42", "x": 1}),
    ],
}


@pytest.fixture(scope="module")
def server(serve: Any, wechat: FakeWeChat) -> Api:
    return serve("sqlite", **secure_settings(wechat, rate_limit_user=0, rate_limit_address=0))


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def client(server: Api, seen: Seen) -> Iterator[Client]:
    transport = LossyTransport(seen)
    with Client(server.base_url, service_key=SERVICE_KEY, backoff=0.01, transport=transport) as c:
        yield c


@pytest.fixture
def user(client: Client) -> str:
    user_id = f"u-{uuid.uuid4().hex}"
    client.add_user(user_id=user_id, user_name="tester")
    return user_id


def _history(client: Client, user: str, session_id: str | None = None) -> HuihuaChatMessageHistory:
    session_id = session_id or f"lc-{uuid.uuid4().hex[:12]}"
    return HuihuaChatMessageHistory(session_id=session_id, user_id=user, client=client)


@pytest.mark.parametrize("case", EXACT)
def test_messages_round_trip_exactly(client: Client, user: str, case: str) -> None:
    history = _history(client, user)
    history.add_messages(EXACT[case])
    assert history.messages == EXACT[case]


def test_the_mapping_is_the_contracts(client: Client, user: str) -> None:
    history = _history(client, user)
    history.add_messages(
        EXACT["tool calls and empty text, then the tool"] + EXACT["text then images"]
    )
    chats = client.query_session_info(user_id=user, session_id=history.session_id).chats
    assert [c.role for c in chats] == ["user", "ai", "tool", "tool", "ai", "user"]
    call = chats[1]
    assert (call.msg, call.tool_calls) == (
        "",
        [{"id": "call_1", "name": "multiply", "arguments": '{"a": 6, "b": 7}'}],
    )
    assert call.meta["langchain"]["id"] == "run-1"
    assert (chats[2].tool_call_id, chats[2].name, chats[2].msg) == ("call_1", "multiply", "42")
    assert chats[4].reasoning == "6*7 is 42"
    assert chats[5].msg == "what is in these?"
    assert chats[5].parts == [
        {"type": "image", "url": IMAGE},
        {"type": "image", "url": JPEG, "mime": "image/jpeg"},
    ]


def test_a_message_another_client_wrote_reads_as_langchain(client: Client, user: str) -> None:
    reply = client.add_chat(user_id=user, role="user", msg="hi", meta={"device": "ios"})
    client.add_chat(user_id=user, session_id=reply.session_id, role="ai", msg="hello")
    history = _history(client, user, reply.session_id)
    assert history.messages == [
        HumanMessage("hi", additional_kwargs={"meta": {"device": "ios"}}),
        AIMessage("hello"),
    ]


def test_tool_call_arguments_not_a_json_object_read_as_invalid_tool_calls(
    client: Client, user: str
) -> None:
    calls = [
        {"id": "c1", "name": "add", "arguments": '{"a": 1}'},
        {"id": "c2", "name": "add", "arguments": "[1, 2]"},
        {"id": "c3", "name": "add", "arguments": "{not json"},
    ]
    reply = client.add_chat(user_id=user, role="ai", msg="", tool_calls=calls)
    (message,) = _history(client, user, reply.session_id).messages
    assert isinstance(message, AIMessage)
    good = {"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}
    assert message.tool_calls == [good]
    assert [(c["id"], c["args"]) for c in message.invalid_tool_calls] == [
        ("c2", "[1, 2]"),
        ("c3", "{not json"),
    ]


CANNOT = {
    "an image as a data: URL": HumanMessage(
        [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": "data:image/png;base64,iVBO"},
        ]
    ),
    "an image as base64": HumanMessage(
        [{"type": "image", "base64": "iVBO", "mime_type": "image/png"}]
    ),
    "extras over meta's limit": AIMessage("hi", additional_kwargs={"blob": "x" * 9000}),
    "no text and nothing else": HumanMessage(""),
}


@pytest.mark.parametrize("case", CANNOT)
def test_what_cannot_be_stored_raises_before_anything_is_written(
    client: Client, user: str, seen: Seen, case: str
) -> None:
    history = _history(client, user)
    with pytest.raises(ValueError, match=r"message 1 \("):
        history.add_messages([HumanMessage("first, fine"), CANNOT[case]])
    assert seen.to("/add_chats") == []
    assert history.messages == []


def test_a_turn_of_more_than_100_messages_raises(client: Client, user: str, seen: Seen) -> None:
    history = _history(client, user)
    with pytest.raises(ValueError, match="at most 100"):
        history.add_messages([HumanMessage(f"m{i}") for i in range(101)])
    assert seen.to("/add_chats") == []
    history.add_messages([HumanMessage(f"m{i}") for i in range(100)])
    assert len(history.messages) == 100


def test_a_turn_is_one_add_chats_written_once_when_its_reply_is_lost(
    client: Client, user: str, seen: Seen
) -> None:
    history = _history(client, user)
    seen.drop("/add_chats")
    history.add_messages([HumanMessage("q"), AIMessage("a")])
    sent = seen.to("/add_chats")
    assert len(sent) == 2 and sent[0][1] == sent[1][1]
    assert history.messages == [HumanMessage("q"), AIMessage("a")]


def test_a_failed_write_raises(client: Client) -> None:
    history = _history(client, "no-such-user")
    with pytest.raises(errors.NotFound):
        history.add_messages([HumanMessage("q")])


def test_clear(client: Client, user: str) -> None:
    history = _history(client, user)
    history.clear()  # nothing there yet: fine
    history.add_messages([HumanMessage("q")])
    history.clear()
    assert history.messages == []


def _chain(histories: dict[str, HuihuaChatMessageHistory], replies: list[str]) -> Any:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "be brief"), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    model = GenericFakeChatModel(messages=iter(AIMessage(r) for r in replies))
    with warnings.catch_warnings():  # deprecated for LangGraph's persistence, still shipped
        warnings.simplefilter("ignore", LangChainDeprecationWarning)
        return RunnableWithMessageHistory(
            prompt | model,
            lambda session_id: histories[session_id],
            input_messages_key="question",
            history_messages_key="history",
        )


def test_runnable_with_message_history_keeps_each_turn(client: Client, user: str) -> None:
    history = _history(client, user)
    chain = _chain({history.session_id: history}, ["hi there", "fine"])
    config = {"configurable": {"session_id": history.session_id}}
    assert chain.invoke({"question": "hello"}, config=config).content == "hi there"
    assert chain.invoke({"question": "how are you?"}, config=config).content == "fine"
    assert [(type(m).__name__, m.content) for m in history.messages] == [
        ("HumanMessage", "hello"),
        ("AIMessage", "hi there"),
        ("HumanMessage", "how are you?"),
        ("AIMessage", "fine"),
    ]


def test_runnable_with_message_history_async_on_the_async_client(server: Api, user: str) -> None:
    seen = Seen()

    async def main() -> list[BaseMessage]:
        transport = AsyncLossyTransport(seen)
        async with AsyncClient(
            server.base_url, service_key=SERVICE_KEY, backoff=0.01, transport=transport
        ) as aclient:
            history = HuihuaChatMessageHistory(session_id="lc-async", user_id=user, client=aclient)
            chain = _chain({"lc-async": history}, ["one", "two"])
            config = {"configurable": {"session_id": "lc-async"}}
            await chain.ainvoke({"question": "first"}, config=config)
            await chain.ainvoke({"question": "second"}, config=config)
            with pytest.raises(TypeError, match="a-methods"):
                history.add_messages([HumanMessage("sync")])
            return await history.aget_messages()

    got = asyncio.run(main())
    assert [m.content for m in got] == ["first", "one", "second", "two"]
    assert len(seen.to("/add_chats")) == 2  # one call per turn


def test_runnable_with_message_history_async_on_the_sync_client(
    client: Client, user: str, seen: Seen
) -> None:
    history = _history(client, user)
    chain = _chain({history.session_id: history}, ["one", "two"])
    config = {"configurable": {"session_id": history.session_id}}

    async def main() -> list[BaseMessage]:
        await chain.ainvoke({"question": "first"}, config=config)
        await chain.ainvoke({"question": "second"}, config=config)
        got = await history.aget_messages()
        await history.aclear()
        return got

    got = asyncio.run(main())
    assert [m.content for m in got] == ["first", "one", "second", "two"]
    assert len(seen.to("/add_chats")) == 2  # one call per turn, in a thread
    assert history.messages == []


@pytest.fixture
def raising() -> Iterator[None]:
    saved = RootListenersTracer.raise_error, AsyncRootListenersTracer.raise_error
    raise_history_errors()
    yield
    RootListenersTracer.raise_error, AsyncRootListenersTracer.raise_error = saved


def test_a_failed_write_in_the_chain_is_only_logged_by_langchain(client: Client) -> None:
    history = _history(client, "no-such-user")
    chain = _chain({history.session_id: history}, ["answered, not kept"])
    reply = chain.invoke(
        {"question": "q"}, config={"configurable": {"session_id": history.session_id}}
    )
    assert reply.content == "answered, not kept"  # what the issue saw: the failure swallowed


def test_raise_history_errors_makes_the_chain_raise(client: Client, raising: None) -> None:
    history = _history(client, "no-such-user")
    chain = _chain({history.session_id: history}, ["never seen"])
    with pytest.raises(errors.NotFound):
        chain.invoke({"question": "q"}, config={"configurable": {"session_id": history.session_id}})
