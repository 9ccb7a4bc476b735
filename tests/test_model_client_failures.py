"""The model client's retries, timeouts and breaks; its key is never in an error; it cancels."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from huihua.relay.chunks import Chunk
from huihua.relay.model import ModelBroken, ModelClient, ModelError, ModelSettings

from .conftest import free_port
from .fake_model import FakeModel
from .fake_script import Fail, Hang, Reply, chinese_pieces, until, wait_until
from .model_client_cases import ASK, KEY, ask, settings
from .model_client_cases import fake as fake  # a fixture: pytest finds it by name
from .model_client_cases import server as server  # a fixture: pytest finds it by name


def test_429_then_success_obeys_retry_after(fake: FakeModel) -> None:
    fake.script(Fail(429, retry_after=0.4), Reply(content=["好"]))
    outcome = ask(fake, retry_budget_s=5)
    assert outcome.error is None
    assert outcome.content == "好"
    assert fake.calls == 2
    assert outcome.seconds >= 0.4


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(fake: FakeModel, status: int) -> None:
    fake.script(Fail(status), Fail(status), Reply(content=["好"]))
    outcome = ask(fake, retry_budget_s=5)
    assert (outcome.content, fake.calls) == ("好", 3)


def test_503_past_the_budget_is_a_model_error(fake: FakeModel) -> None:
    fake.default = Fail(503, message="Service is too busy")
    outcome = ask(fake, retry_budget_s=1.0)
    assert type(outcome.error) is ModelError
    assert outcome.error.status == 503
    assert str(outcome.error).startswith("the model answered 503: Service is too busy (")
    assert fake.calls >= 3  # back-off 0.25 s, 0.5 s… with jitter: several tries within 1 s
    assert 1.0 <= outcome.seconds < 3.0
    assert outcome.chunks == [] and outcome.ended is None


def test_a_retry_after_past_the_budget_fails_at_once(fake: FakeModel) -> None:
    fake.script(Fail(429, message="Rate limit reached", retry_after=30))
    outcome = ask(fake, retry_budget_s=2)
    assert type(outcome.error) is ModelError
    assert str(outcome.error) == (
        "the model answered 429: Rate limit reached (1 try, and asks to wait 30 s)"
    )
    assert fake.calls == 1
    assert outcome.seconds < 1.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_refusals_fail_at_once(fake: FakeModel, status: int) -> None:
    fake.script(Fail(status, message="This model's maximum context length is 65536 tokens. " * 9))
    outcome = ask(fake)
    assert type(outcome.error) is ModelError
    assert outcome.error.status == status
    reason = str(outcome.error)
    assert reason.startswith(f"the model answered {status}: This model's maximum context length")
    assert len(reason) <= 230
    assert fake.calls == 1


def test_unreachable_is_retried_within_the_budget() -> None:
    port = free_port()  # nothing listens there
    unreachable = ModelSettings(f"http://127.0.0.1:{port}/v1", KEY, retry_budget_s=0.8)

    async def run() -> tuple[ModelError, float]:
        client = ModelClient(unreachable)
        started = time.monotonic()
        with pytest.raises(ModelError) as raised:
            async for _ in client.stream("m", ASK):
                pass
        await client.aclose()
        return raised.value, time.monotonic() - started

    error, seconds = asyncio.run(run())
    assert type(error) is ModelError
    assert str(error).startswith("the model could not be reached (ClientConnectorError")
    assert "tries)" in str(error)
    assert 0.8 <= seconds < 2.5


def test_broken_after_3_chunks_keeps_them_and_is_not_retried(fake: FakeModel) -> None:
    fake.script(Reply(content=["一", "二", "三", "四", "五"], break_after=3, delay_s=0.01))
    outcome = ask(fake, retry_budget_s=5)
    assert isinstance(outcome.error, ModelBroken)
    assert str(outcome.error).startswith("the model's stream broke (ClientPayloadError")
    assert outcome.content == "一二三"
    assert outcome.ended is None
    assert fake.calls == 1


def test_broken_before_the_first_text_is_retried(fake: FakeModel) -> None:
    fake.script(Reply(break_after=0), Reply(content=["好"]))
    outcome = ask(fake, retry_budget_s=5)
    assert (outcome.error, outcome.content, fake.calls) == (None, "好", 2)


@pytest.mark.parametrize("headers", [True, False])
def test_a_hang_before_the_first_text_times_out(fake: FakeModel, headers: bool) -> None:
    fake.script(Hang(headers=headers))
    outcome = ask(fake, first_token_timeout_s=0.3, retry_budget_s=0)
    assert type(outcome.error) is ModelError
    assert str(outcome.error) == "the model sent nothing in 0.3 s (1 try)"
    assert 0.3 <= outcome.seconds < 2
    wait_until(lambda: fake.hanging == 0, "the fake sees the client leave")


def test_silence_after_the_first_text_is_broken(fake: FakeModel) -> None:
    # Each piece comes 0.6 s after the one before: the first is within its 5 s, the second
    # is past the 0.2 s of silence allowed after the first.
    fake.script(Reply(content=["一", "二", "三"], delay_s=0.6))
    outcome = ask(fake, first_token_timeout_s=5, idle_timeout_s=0.2)
    assert isinstance(outcome.error, ModelBroken)
    assert str(outcome.error) == "the model went silent for 0.2 s"
    assert outcome.content == "一"
    assert 0.8 <= outcome.seconds < 1.2
    wait_until(lambda: fake.disconnects == 1, "the fake sees the client leave")


def test_silence_while_the_reader_is_busy_is_not_the_models(fake: FakeModel) -> None:
    fake.script(Reply(content=["一", "二", "三"], delay_s=0.01))

    async def run() -> str:
        client = ModelClient(settings(fake, idle_timeout_s=0.2))
        text = ""
        async for item in client.stream("m", ASK):
            if isinstance(item, Chunk):
                text += item.content
                await asyncio.sleep(0.5)  # the consumer's own work: the model is not silent
        await client.aclose()
        return text

    assert asyncio.run(run()) == "一二三"


@pytest.mark.parametrize(
    "script",
    [
        Fail(400, message=f"Incorrect API key provided: {KEY}"),
        Fail(401, message=f"invalid key {KEY}!"),
        Fail(503, message=f"upstream rejected {KEY}"),
    ],
)
def test_the_key_is_never_in_an_error(fake: FakeModel, script: Fail) -> None:
    fake.default = script
    outcome = ask(fake, retry_budget_s=0.3)
    assert outcome.error is not None
    assert KEY not in str(outcome.error)
    assert KEY not in repr(outcome.error.args)
    assert "[key]" in str(outcome.error)


def test_cancelling_the_task_closes_the_response_at_once(fake: FakeModel) -> None:
    fake.script(Reply(content=chinese_pieces(200), delay_s=0.05))  # 10 s of reply

    async def run() -> float:
        client = ModelClient(settings(fake))
        first = asyncio.Event()

        async def read() -> None:
            async for item in client.stream("m", ASK):
                if isinstance(item, Chunk):
                    first.set()

        reading = asyncio.ensure_future(read())
        await first.wait()
        cancelled = time.monotonic()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        await until(lambda: fake.disconnects == 1, "the fake sees the client leave")
        await client.aclose()
        return time.monotonic() - cancelled

    assert asyncio.run(run()) < 1.0
    assert fake.calls == 1


def test_leaving_the_loop_closes_the_response_at_once(fake: FakeModel) -> None:
    fake.script(Reply(content=chinese_pieces(200), delay_s=0.05))

    async def run() -> None:
        client = ModelClient(settings(fake))
        async with contextlib.aclosing(client.stream("m", ASK)) as items:
            async for item in items:
                if isinstance(item, Chunk):
                    break
        await until(lambda: fake.disconnects == 1, "the fake sees the client leave", 1.0)
        await client.aclose()

    asyncio.run(run())


def test_concurrent_streams_share_one_client(fake: FakeModel) -> None:
    fake.default = Reply(content=chinese_pieces(50), delay_s=0.002)

    async def run() -> list[str]:
        client = ModelClient(settings(fake))

        async def one() -> str:
            text = ""
            async for item in client.stream("m", ASK):
                if isinstance(item, Chunk):
                    text += item.content
            return text

        texts = await asyncio.gather(*(one() for _ in range(50)))
        await client.aclose()
        return texts

    assert asyncio.run(run()) == ["".join(chinese_pieces(50))] * 50
    assert fake.calls == 50
