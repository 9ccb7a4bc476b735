"""huihua.llamaindex against a real server with auth on: LlamaIndex messages round-trip
through API.md §5.1, what huihua cannot keep raises ValueError with nothing written, every
method of BaseChatStore does what its docstring says (sync and async), and LlamaIndex's own
ChatMemoryBuffer keeps a conversation in it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.memory import ChatMemoryBuffer

from huihua.client import AsyncClient, Client
from huihua.llamaindex import HuihuaChatStore

from .conftest import SERVICE_KEY, secure_settings
from .lossy import LossyTransport, Seen

if TYPE_CHECKING:
    from .conftest import Api
    from .fake_wechat import FakeWeChat

IMAGE = "https://cdn.example.com/cat.png"
EXACT: dict[str, list[ChatMessage]] = {
    "plain": [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="user", content="你好"),
        ChatMessage(role="assistant", content="hello", additional_kwargs={"model": "m-1"}),
    ],
    "text and images": [
        ChatMessage(
            role="user",
            blocks=[
                TextBlock(text="what is this?"),
                ImageBlock(url=IMAGE, detail="low"),
                TextBlock(text=" and this?"),
                ImageBlock(url="https://cdn.example.com/b.jpg", image_mimetype="image/jpeg"),
            ],
        )
    ],
    "tools": [
        ChatMessage(
            role="assistant",
            blocks=[
                ThinkingBlock(content="I should multiply"),
                ToolCallBlock(tool_call_id="c1", tool_name="multiply", tool_kwargs={"a": 6}),
            ],
        ),
        ChatMessage(
            role="assistant",
            content=None,
            additional_kwargs={
                "tool_calls": [
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"b": 1}'},
                    }
                ]
            },
        ),
        ChatMessage(
            role="tool", content="42", additional_kwargs={"tool_call_id": "c1", "name": "multiply"}
        ),
        ChatMessage(role="developer", content="keep going"),
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
def store(client: Client) -> HuihuaChatStore:
    user_id = f"u-{uuid.uuid4().hex}"
    client.add_user(user_id=user_id, user_name="tester")
    return HuihuaChatStore(user_id=user_id, client=client)


@pytest.mark.parametrize("case", EXACT)
def test_messages_round_trip(store: HuihuaChatStore, case: str) -> None:
    store.set_messages("k", EXACT[case])
    assert store.get_messages("k") == EXACT[case]


def test_the_mapping_is_the_contracts(store: HuihuaChatStore, client: Client) -> None:
    store.set_messages("k", EXACT["tools"])
    chats = client.query_session_info(user_id=store.user_id, session_id="k").chats
    assert [c.role for c in chats] == ["ai", "ai", "tool", "system"]
    assert chats[0].reasoning == "I should multiply"
    assert chats[0].tool_calls == [{"id": "c1", "name": "multiply", "arguments": '{"a": 6}'}]
    assert chats[1].tool_calls == [{"id": "c2", "name": "add", "arguments": '{"b": 1}'}]
    assert (chats[2].tool_call_id, chats[2].name) == ("c1", "multiply")


CANNOT = {
    "an image as bytes": ChatMessage(role="user", blocks=[ImageBlock(image=b"\x89PNG")]),
    "an image as a data: URL": ChatMessage(
        role="user", blocks=[ImageBlock(url="data:image/png;base64,iVBO")]
    ),
    "the function role": ChatMessage(role="function", content="x"),
    "extras over meta's limit": ChatMessage(
        role="user", content="x", additional_kwargs={"blob": "x" * 9000}
    ),
    "a tool call without an id": ChatMessage(
        role="assistant", blocks=[ToolCallBlock(tool_name="multiply", tool_kwargs={"a": 6})]
    ),
}


@pytest.mark.parametrize("case", CANNOT)
def test_what_cannot_be_stored_raises_before_anything_is_written(
    store: HuihuaChatStore, seen: Seen, case: str
) -> None:
    store.add_message("k", ChatMessage(role="user", content="kept"))
    with pytest.raises(ValueError, match="message 1"):
        store.set_messages("k", [ChatMessage(role="user", content="fine"), CANNOT[case]])
    assert [m.content for m in store.get_messages("k")] == ["kept"]  # not even deleted


def test_each_method(store: HuihuaChatStore, seen: Seen) -> None:
    assert store.get_messages("a") == [] and store.get_keys() == []
    for text in ("one", "two", "three", "four"):
        store.add_message("a", ChatMessage(role="user", content=text))
    store.add_message("b", ChatMessage(role="user", content="other"))
    assert store.get_keys() == ["b", "a"]
    assert store.delete_message("a", 1).content == "two"
    assert store.delete_last_message("a").content == "four"
    assert store.delete_message("a", 5) is None
    assert [m.content for m in store.get_messages("a")] == ["one", "three"]
    assert [m.content for m in store.delete_messages("a")] == ["one", "three"]
    assert store.delete_messages("a") is None
    assert store.get_keys() == ["b"]
    calls = len(seen.to("/add_chats"))
    store.set_messages("b", [ChatMessage(role="user", content=f"m{i}") for i in range(150)])
    assert len(store.get_messages("b")) == 150
    assert len(seen.to("/add_chats")) - calls == 2  # 100, then 50


def test_the_async_methods_on_the_async_client(server: Api, store: HuihuaChatStore) -> None:
    async def main() -> None:
        async with AsyncClient(server.base_url, service_key=SERVICE_KEY) as aclient:
            astore = HuihuaChatStore(user_id=store.user_id, client=aclient)
            await astore.async_add_message("x", ChatMessage(role="user", content="q"))
            await astore.aset_messages("y", EXACT["text and images"])
            assert await astore.aget_messages("y") == EXACT["text and images"]
            assert sorted(await astore.aget_keys()) == ["x", "y"]
            assert (await astore.adelete_last_message("y")).blocks[0].text == "what is this?"
            assert await astore.adelete_message("y", 0) is None
            assert [m.content for m in await astore.adelete_messages("x")] == ["q"]
            with pytest.raises(TypeError, match="async methods"):
                astore.get_keys()

    asyncio.run(main())


def test_chat_memory_buffer_keeps_a_conversation(store: HuihuaChatStore) -> None:
    memory = ChatMemoryBuffer.from_defaults(
        chat_store=store, chat_store_key="conv", token_limit=1000, tokenizer_fn=str.split
    )
    memory.put(ChatMessage(role="user", content="hello"))
    memory.put(ChatMessage(role="assistant", content="hi there"))
    assert [m.content for m in memory.get()] == ["hello", "hi there"]
    again = ChatMemoryBuffer.from_defaults(
        chat_store=store, chat_store_key="conv", token_limit=1000, tokenizer_fn=str.split
    )
    assert [m.content for m in again.get_all()] == ["hello", "hi there"]
    again.reset()
    assert store.get_messages("conv") == []
