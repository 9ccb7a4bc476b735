"""The CPU a model's chunk costs huihua to read, by the way it is read.

    python3 bench/chunk_parse.py                    # 20,000 chunks a run, 3 runs, uvloop
    python3 bench/chunk_parse.py --runs 5 --loop asyncio

Over loopback: the fake model (tests/fake_model.py) runs in a process of its own and streams
DeepSeek-like chunks (content pieces of 1-3 Chinese characters, ``usage`` at the end); this
process reads them and counts only its own CPU (``time.process_time``), divided by the
content chunks read. The readers take turns within a round, so that a slower moment of the
shared machine falls on all of them:

- ``openai``: the official package's ``AsyncOpenAI`` stream, reading ``delta.content``;
- ``httpx-sse``: httpx, httpx-sse's ``aiter_sse()``, a msgspec decode of each event;
- ``huihua``: ``huihua.relay.model.ModelClient`` (aiohttp, its own line splitting, msgspec);
- ``bytes``: httpx's ``aiter_bytes()`` alone, no parsing: what httpx's transport costs;
- ``aiohttp``: aiohttp's client (its C HTTP parser), ``iter_any()`` feeding huihua's parser;
- ``floor``: no httpx: an asyncio ``Protocol`` with httptools' response parser feeding the
  same parser as ``huihua``: about what reading a socket costs in this event loop.

Two shapes of traffic: ``fast``, one stream of all the chunks sent as fast as the fake can
(httpx still hands over one HTTP chunk, so one event, at a time), and ``paced``, many
streams at once, each chunk ``--delay-ms`` after the one before (one chunk a read, as models
send them).

Replayed: the same events, recorded, fed to the ``openai`` and httpx readers through an
in-memory transport (httpx's and httpx2's ``MockTransport``), and to huihua's parser
directly: the parsing alone, without the socket, the noise of the other process, nor the
transport's cost per read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httptools
import httpx
import httpx2
import msgspec
import openai
from httpx_sse import aconnect_sse
from openai.types.chat import ChatCompletionMessageParam

from huihua.relay.chunks import Chunk, Parser
from huihua.relay.model import ModelClient, ModelSettings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.fake_script, for the pieces the fake sends

from tests.fake_script import chinese_pieces  # noqa: E402

ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "写一首秋天的诗"}]
T = TypeVar("T")
BODY = {"model": "deepseek-chat", "messages": ASK, "stream": True}
BODY["stream_options"] = {"include_usage": True}
READERS = ("openai", "httpx-sse", "huihua", "bytes", "aiohttp", "floor")
REPLAYED = ("openai", "httpx-sse", "huihua", "bytes")


class _Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Event(msgspec.Struct):
    choices: list[_Choice] | None = None


_decode = msgspec.json.Decoder(_Event).decode


class Fake:
    """The fake model in a process of its own."""

    def __init__(self, chunks: int, delay_ms: float) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [sys.executable, "-m", "tests.fake_model", "--port", str(port)]
        command += ["--chunks", str(chunks), "--delay-ms", str(delay_ms)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening" not in line:
            self.process.kill()
            raise RuntimeError("the fake model did not start")
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


Replay = list[bytes] | None  # the recorded events a mock transport answers with, or None


async def read_openai(base_url: str, streams: int, replay: Replay = None) -> str:
    http_client = None
    if replay is not None:  # openai 3 runs on httpx2, a fork of httpx
        http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(_answer2(replay)))
    client = openai.AsyncOpenAI(
        base_url=base_url, api_key="sk-bench", max_retries=0, http_client=http_client
    )

    async def one() -> str:
        stream = await client.chat.completions.create(
            model="deepseek-chat",
            messages=ASK,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = ""
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
        return text

    try:
        return "".join(await asyncio.gather(*(one() for _ in range(streams))))
    finally:
        await client.close()


async def read_httpx_sse(base_url: str, streams: int, replay: Replay = None) -> str:
    async with _client(replay) as client:

        async def one() -> str:
            text = ""
            async with aconnect_sse(client, "POST", base_url + "/chat/completions", json=BODY) as s:
                async for sse in s.aiter_sse():
                    if sse.data == "[DONE]":
                        break
                    event = _decode(sse.data)
                    if event.choices:
                        delta = event.choices[0].delta
                        if delta is not None and delta.content:
                            text += delta.content
            return text

        return "".join(await asyncio.gather(*(one() for _ in range(streams))))


async def read_huihua(base_url: str, streams: int, replay: Replay = None) -> str:
    if replay is not None:  # the parsing alone: the recorded reads fed to huihua's parser
        parser = Parser(think_tags=False)
        parts = [chunk.content for data in replay if (chunk := parser.feed(data)) is not None]
        return "".join(parts)
    client = ModelClient(ModelSettings(base_url, "sk-bench"))

    async def one() -> str:
        text = ""
        async for item in client.stream("deepseek-chat", [dict(m) for m in ASK]):
            if isinstance(item, Chunk):
                text += item.content
        return text

    try:
        return "".join(await asyncio.gather(*(one() for _ in range(streams))))
    finally:
        await client.aclose()


async def read_bytes(base_url: str, streams: int, replay: Replay = None) -> str:
    async with _client(replay) as client:

        async def one() -> int:
            size = 0
            async with client.stream("POST", base_url + "/chat/completions", json=BODY) as r:
                async for data in r.aiter_bytes():
                    size += len(data)
            return size

        sizes = await asyncio.gather(*(one() for _ in range(streams)))
        return "" if all(sizes) else "a stream was empty"


async def read_aiohttp(base_url: str, streams: int, replay: Replay = None) -> str:
    connector = aiohttp.TCPConnector(limit=4096)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> str:
            parser = Parser(think_tags=False)
            text = []
            async with session.post(base_url + "/chat/completions", json=BODY) as r:
                async for data in r.content.iter_any():
                    chunk = parser.feed(data)
                    if chunk is not None:
                        text.append(chunk.content)
            return "".join(text)

        return "".join(await asyncio.gather(*(one() for _ in range(streams))))


class _FloorProtocol(asyncio.Protocol):
    """One streamed answer read by httptools, its body fed to huihua's parser."""

    reads = 0  # of the socket, by every instance: how many chunks a read brings

    def __init__(self, ended: asyncio.Future[str]) -> None:
        self.http = httptools.HttpResponseParser(self)
        self.sse = Parser(think_tags=False)
        self.text: list[str] = []
        self.ended = ended

    def data_received(self, data: bytes) -> None:
        _FloorProtocol.reads += 1
        self.http.feed_data(data)

    def on_body(self, body: bytes) -> None:
        chunk = self.sse.feed(body)
        if chunk is not None:
            self.text.append(chunk.content)

    def on_message_complete(self) -> None:
        self.ended.set_result("".join(self.text))


async def read_floor(base_url: str, streams: int, replay: Replay = None) -> str:
    url = httpx.URL(base_url + "/chat/completions")
    body = msgspec.json.encode(BODY)
    head = (
        f"POST {url.raw_path.decode()} HTTP/1.1\r\nhost: {url.netloc.decode()}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    loop = asyncio.get_running_loop()

    async def one() -> str:
        ended: asyncio.Future[str] = loop.create_future()
        transport, _ = await loop.create_connection(
            lambda: _FloorProtocol(ended), url.host, url.port or 80
        )
        transport.write(head.encode() + body)
        try:
            return await ended
        finally:
            transport.close()

    return "".join(await asyncio.gather(*(one() for _ in range(streams))))


READ: dict[str, Callable[[str, int, Replay], Coroutine[Any, Any, str]]] = {
    "openai": read_openai,
    "httpx-sse": read_httpx_sse,
    "huihua": read_huihua,
    "bytes": read_bytes,
    "aiohttp": read_aiohttp,
    "floor": read_floor,
}


def _client(replay: Replay) -> httpx.AsyncClient:
    if replay is None:
        return httpx.AsyncClient(limits=httpx.Limits(max_connections=4096), timeout=60)
    return httpx.AsyncClient(transport=httpx.MockTransport(_answer(replay)))


def _answer(replay: list[bytes]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=_Replayed(replay))

    return answer


def _answer2(replay: list[bytes]) -> Callable[[httpx2.Request], httpx2.Response]:
    def answer(request: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx2.Response(200, headers=headers, stream=_Replayed2(replay))

    return answer


class _Replayed(httpx.AsyncByteStream):
    def __init__(self, events: list[bytes]) -> None:
        self.events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self.events:
            yield event


class _Replayed2(httpx2.AsyncByteStream):
    def __init__(self, events: list[bytes]) -> None:
        self.events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self.events:
            yield event


async def record(base_url: str) -> list[bytes]:
    """Return the events of one answer, as httpx hands them over (one HTTP chunk each)."""
    async with (
        _client(None) as client,
        client.stream("POST", base_url + "/chat/completions", json=BODY) as r,
    ):
        return [data async for data in r.aiter_bytes()]


def measure(
    reader: str, base_url: str, streams: int, expected: str, loop: str, replay: Replay = None
) -> float:
    """Return this process's CPU seconds for one read of ``streams`` streams."""
    started = time.process_time()
    text = _run(READ[reader](base_url, streams, replay), loop)
    used = time.process_time() - started
    if reader != "bytes":
        assert text == expected * streams, f"{reader} read {len(text)} characters"
    else:
        assert text == "", text
    return used


def _run(coroutine: Coroutine[Any, Any, T], loop: str) -> T:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=20_000, help="content chunks a run")
    parser.add_argument("--streams", type=int, default=100, help="streams at once, paced")
    parser.add_argument("--delay-ms", type=float, default=25.0, help="between chunks, paced")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--readers", default=",".join(READERS))
    args = parser.parse_args()
    readers = args.readers.split(",")
    per_stream = args.chunks // args.streams
    shapes: list[tuple[str, int, int, float]] = [
        ("fast", 1, args.chunks, 0.0),
        ("paced", args.streams, per_stream, args.delay_ms),
    ]
    print(
        f"{args.chunks:,} content chunks a run; paced: {args.streams} streams of {per_stream} "
        f"chunks {args.delay_ms:g} ms apart; loop {args.loop}; python {sys.version.split()[0]}, "
        f"openai {openai.__version__}, httpx {httpx.__version__}, msgspec {msgspec.__version__}; "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    figures: dict[tuple[str, str], list[float]] = {}
    replay: list[bytes] = []
    for shape, streams, chunks, delay_ms in shapes:
        fake = Fake(chunks, delay_ms)
        try:
            expected = "".join(chinese_pieces(chunks))
            if shape == "fast":
                replay = _run(record(fake.base_url), args.loop)
            for reader in readers:  # a first read warms up imports, pools and caches
                measure(reader, fake.base_url, min(streams, 4), expected, args.loop)
            _FloorProtocol.reads = 0
            for _ in range(args.runs):
                for reader in readers:
                    used = measure(reader, fake.base_url, streams, expected, args.loop)
                    figures.setdefault((shape, reader), []).append(used / (streams * chunks))
        finally:
            fake.stop()
        if "floor" in readers:
            per_read = streams * chunks * args.runs / _FloorProtocol.reads
            print(
                f"{shape}: {per_read:.2f} content chunks a read of the socket (floor)", flush=True
            )
    expected = "".join(chinese_pieces(args.chunks))
    for _ in range(args.runs):
        for reader in (r for r in readers if r in REPLAYED):
            used = measure(reader, "http://model.invalid/v1", 1, expected, args.loop, replay)
            figures.setdefault(("replay", reader), []).append(used / args.chunks)
    print()
    print(f"{'shape':<6} {'reader':<10} {'µs of CPU a chunk, each run':<34} median")
    for (shape, reader), runs in figures.items():
        each = " ".join(f"{r * 1e6:6.2f}" for r in runs)
        print(f"{shape:<6} {reader:<10} {each:<34} {statistics.median(runs) * 1e6:6.2f}")


if __name__ == "__main__":
    main()
