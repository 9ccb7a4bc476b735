"""The fake model fixtures and the call the model client's tests share (test_model_client_*.py).

Those tests run the model client (relay/model.py) against the fake model (fake_model.py),
over real HTTP. What API.md §8.1 and §8.4 ask of it: text and reasoning as they come, the
usage, the retries before the first text and none after it, the timeouts, a key that never
reaches an error, and a connection closed as soon as nobody reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest

from huihua.relay.chunks import Chunk, Ended
from huihua.relay.model import ModelClient, ModelError, ModelSettings

from .conftest import free_port
from .fake_model import FakeModel

KEY = "sk-canary-5f1e2d3c4b5a69788796a5b4"
ASK: list[dict[str, Any]] = [
    {"role": "system", "content": "你是诗人"},
    {"role": "user", "content": "写一首秋天的诗"},
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeModel]:
    fake = FakeModel(free_port())
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeModel) -> FakeModel:
    server.reset()
    return server


@dataclasses.dataclass
class Outcome:
    chunks: list[Chunk]
    ended: Ended | None
    error: ModelError | None
    seconds: float

    @property
    def content(self) -> str:
        return "".join(c.content for c in self.chunks)

    @property
    def reasoning(self) -> str:
        return "".join(c.reasoning for c in self.chunks)


def settings(fake: FakeModel, **changes: Any) -> ModelSettings:
    return dataclasses.replace(ModelSettings(fake.base_url, KEY), **changes)


def ask(fake: FakeModel, **changes: Any) -> Outcome:
    """Return what one call yields (and raises), with the time it took."""

    async def run() -> Outcome:
        client = ModelClient(settings(fake, **changes))
        chunks: list[Chunk] = []
        ended: Ended | None = None
        error: ModelError | None = None
        started = time.monotonic()
        try:
            async for item in client.stream("deepseek-chat", ASK):
                assert ended is None, "nothing comes after Ended"
                if isinstance(item, Ended):
                    ended = item
                else:
                    assert item.content or item.reasoning
                    chunks.append(item)
        except ModelError as exc:
            error = exc
        finally:
            await client.aclose()
        return Outcome(chunks, ended, error, time.monotonic() - started)

    return asyncio.run(run())
