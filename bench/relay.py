"""Replies relayed from a model (/ask_ai): what huihua adds to a model's stream.

    python3 bench/relay.py                   # every figure, on SQLite (a minute or two)
    python3 bench/relay.py --streams 100 --concurrent 1000 --seconds 10

The fake model (tests/fake_model.py) runs in a process of its own and streams pieces of 1-3
Chinese characters ``--delay-ms`` apart; ``huihua serve`` runs on a SQLite file in another,
with the model's settings; this process asks and reads, with aiohttp. Four figures:

1. first token: from sending /ask_ai to its first piece of text, against asking the fake
   model directly, each while ``--streams`` replies stream through huihua (p50, p99);
2. CPU a relayed chunk: the server's CPU (/proc) over ``--streams`` replies of 50 chunks and
   of 250; the difference over the difference in chunks is the cost of one more chunk
   relayed (read from the model, buffered, sent as an event, stored at least once a second,
   counted), the ask's own costs (the question, the placeholder, the end) cancelling out;
3. ``--concurrent`` replies asked at once: the server's peak RSS, and the event loop's lag
   read as the latency of ``GET /healthz`` every 50 ms (p50, p99, max), while the asks
   arrive (to the last first token) and while every reply streams (to the first end);
4. add_chat beside replies: wrk on add_chat (bench/lua/add_chat.lua), alone and with
   ``--beside`` replies streaming.

The three processes share the machine's cores: on 2 cores the fake model's own CPU (h11,
pure Python) is the largest share, so the figures are what huihua does beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from chunk_parse import Fake  # the fake model in a process of its own
from run import add_chat_env, seed_http
from servers import BENCH, HUIHUA_SERVE, PeakRss, Server, wrk

ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # tests.fake_script

from tests.fake_script import chinese_pieces  # noqa: E402

SHORT, LONG = 50, 250  # chunks a reply, in the two runs of the CPU figure
FIRST = chinese_pieces(1)[0].encode()  # the first piece of every reply, as it is sent
_ids = itertools.count()


class ModelServer(Server):
    """``huihua serve`` on a SQLite file, asking the fake model."""

    def __init__(self, fake: Fake, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
        env |= {
            "HUIHUA_DATABASE_URL": f"sqlite:///{workdir / 'relay.db'}",
            "HUIHUA_LLM_BASE_URL": fake.base_url,
            "HUIHUA_LLM_API_KEY": "sk-bench",
            "HUIHUA_LLM_MODELS": f"bench-pieces-{SHORT},bench-pieces-{LONG}",
            "HUIHUA_LLM_USER_REPLIES": "10",
            "HUIHUA_LLM_HOST_REPLIES": "5000",
        }
        self._start([*HUIHUA_SERVE], env, workdir)


async def ask(http: aiohttp.ClientSession, base: str, model: str, user: str) -> float:
    """Ask once, read the stream to its end; return the seconds to the first piece of text."""
    session = f"s{next(_ids)}"
    body = {"user_id": user, "session_id": session, "msg": "写一首秋天的诗", "model": model}
    started = time.perf_counter()
    first = 0.0
    tail = b""
    async with http.post(base + "/ask_ai", json=body) as response:
        if response.status != 200:
            raise RuntimeError(f"/ask_ai answered {response.status}: {await response.text()}")
        async for data in response.content.iter_any():
            if not first and FIRST in tail + data:
                first = time.perf_counter() - started
            tail = (tail + data)[-4096:]
    if b"event: done" not in tail or b'"status":"complete"' not in tail:
        raise RuntimeError(f"a reply did not end done: {tail!r}")
    return first


async def ask_direct(http: aiohttp.ClientSession, fake: Fake) -> float:
    """Ask the fake model directly; return the seconds to its first piece of text."""
    body = {"model": f"bench-pieces-{SHORT}", "stream": True, "messages": []}
    started = time.perf_counter()
    first = 0.0
    async with http.post(fake.base_url + "/chat/completions", json=body) as response:
        async for data in response.content.iter_any():
            if not first and FIRST in data:
                first = time.perf_counter() - started
    return first


async def users(http: aiohttp.ClientSession, base: str, count: int) -> list[str]:
    names = [f"relay-{i}" for i in range(count)]
    for name in names:
        async with http.post(base + "/add_user", json={"user_id": name}) as response:
            assert response.status == 200, await response.text()
    return names


def session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600))


async def first_token(server: Server, fake: Fake, streams: int, probes: int) -> dict[str, Any]:
    """Figure 1: first token through huihua and direct, while ``streams`` replies stream."""
    async with session() as http:
        names = await users(http, server.base, streams + 1)
        load = [
            asyncio.create_task(ask(http, server.base, f"bench-pieces-{LONG}", name))
            for name in names[:streams]
        ]
        await asyncio.sleep(1.0)  # the load is streaming
        through, direct = [], []
        for _ in range(probes):  # alternate, so a slower moment falls on both
            through.append(await ask(http, server.base, f"bench-pieces-{SHORT}", names[-1]))
            direct.append(await ask_direct(http, fake))
        await asyncio.gather(*load)
    return {"huihua": _quantiles(through), "direct": _quantiles(direct)}


async def cpu_per_chunk(server: Server, streams: int) -> dict[str, float]:
    """Figure 2: the server's CPU for one more chunk relayed."""
    async with session() as http:
        names = await users(http, server.base, streams)
        spent = {}
        for chunks in (SHORT, LONG, SHORT, LONG):  # twice each, the better of the two kept
            before = server.cpu_seconds()
            await asyncio.gather(
                *(ask(http, server.base, f"bench-pieces-{chunks}", name) for name in names)
            )
            used = server.cpu_seconds() - before
            spent[chunks] = min(spent.get(chunks, used), used)
    per_chunk = (spent[LONG] - spent[SHORT]) / (streams * (LONG - SHORT))
    per_ask = spent[SHORT] / streams - SHORT * per_chunk
    return {"chunk_us": per_chunk * 1e6, "ask_us": per_ask * 1e6}


async def concurrent(server: Server, count: int) -> dict[str, Any]:
    """Figure 3: ``count`` replies at once: peak RSS and the loop's lag (GET /healthz),
    while the asks arrive (all at once) and while every reply streams."""
    async with session() as http:
        names = await users(http, server.base, count // 10 + 1)  # 10 replies a user at most
        lags: list[tuple[float, float]] = []  # (when, how long /healthz took)
        done = asyncio.Event()
        firsts: list[float] = []
        ends: list[float] = []

        async def probe() -> None:
            while not done.is_set():
                started = time.perf_counter()
                async with http.get(server.base + "/healthz") as response:
                    await response.read()
                lags.append((started, time.perf_counter() - started))
                await asyncio.sleep(0.05)

        async def one(name: str) -> None:
            started = time.perf_counter()
            firsts.append(started + await ask(http, server.base, f"bench-pieces-{LONG}", name))
            ends.append(time.perf_counter())

        with PeakRss(server) as rss:
            prober = asyncio.create_task(probe())
            await asyncio.gather(*(one(names[i // 10]) for i in range(count)))
            done.set()
            await prober
    streaming = max(firsts)  # from the last first token to the first reply's end
    steady = [lag for when, lag in lags if streaming <= when <= min(ends)]
    asking = [lag for when, lag in lags if when < streaming]
    return {
        "rss_before_mib": rss.before / 2**20,
        "rss_peak_mib": rss.peak / 2**20,
        "asking": _quantiles(asking) | {"max_ms": max(asking) * 1000},
        "streaming": _quantiles(steady) | {"max_ms": max(steady) * 1000},
    }


def add_chat_beside(server: Server, beside: int, seconds: int) -> dict[str, float]:
    """Figure 4: add_chat's throughput alone and with ``beside`` replies streaming."""
    seed_http(server.base)
    alone = wrk(server.base, "add_chat.lua", add_chat_env(), seconds, 64)
    stop = threading.Event()

    def stream() -> None:
        async def loop() -> None:
            async with session() as http:
                names = await users(http, server.base, beside // 10 + 1)

                async def one(name: str) -> None:
                    while not stop.is_set():
                        await ask(http, server.base, f"bench-pieces-{LONG}", name)

                await asyncio.gather(*(one(names[i // 10]) for i in range(beside)))

        asyncio.run(loop())

    streaming = threading.Thread(target=stream, daemon=True)
    streaming.start()
    time.sleep(3.0)  # the replies are streaming
    with_replies = wrk(server.base, "add_chat.lua", add_chat_env(), seconds, 64)
    stop.set()
    streaming.join(timeout=120)

    def rps(out: dict[str, Any]) -> float:
        return float(out["requests"] / (out["duration_us"] / 1e6))

    return {"alone_rps": rps(alone), "beside_rps": rps(with_replies)}


def _quantiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": p99 * 1000}


def run(figure: Callable[[], Awaitable[Any]]) -> Any:
    import uvloop

    return uvloop.run(figure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=100, help="replies at once (1, 2)")
    parser.add_argument("--delay-ms", type=float, default=25.0, help="between a model's chunks")
    parser.add_argument("--probes", type=int, default=50, help="first tokens measured")
    parser.add_argument("--concurrent", type=int, default=1000, help="replies at once (3)")
    parser.add_argument("--concurrent-delay-ms", type=float, default=100.0)
    parser.add_argument("--beside", type=int, default=200, help="replies beside add_chat (4)")
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run (4)")
    args = parser.parse_args()
    print(
        f"huihua relay bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"the model: a chunk every {args.delay_ms:g} ms",
        flush=True,
    )
    with tempfile.TemporaryDirectory(dir=BENCH, prefix="relay-") as tmp:
        fake = Fake(LONG, args.delay_ms)
        server = ModelServer(fake, Path(tmp))
        try:
            first = run(lambda: first_token(server, fake, args.streams, args.probes))
            h, d = first["huihua"], first["direct"]
            print(
                f"1. first token with {args.streams} streaming: huihua p50 {h['p50_ms']:.1f} ms "
                f"p99 {h['p99_ms']:.1f} ms; the model direct p50 {d['p50_ms']:.1f} ms p99 "
                f"{d['p99_ms']:.1f} ms; added p50 {h['p50_ms'] - d['p50_ms']:.1f} ms, p99 "
                f"{h['p99_ms'] - d['p99_ms']:.1f} ms",
                flush=True,
            )
            cpu = run(lambda: cpu_per_chunk(server, args.streams))
            print(
                f"2. CPU of huihua: {cpu['chunk_us']:.1f} µs a relayed chunk, "
                f"{cpu['ask_us']:.0f} µs an ask besides ({args.streams} replies at once)",
                flush=True,
            )
        finally:
            server.stop()
            fake.stop()
        fake = Fake(LONG, args.concurrent_delay_ms)
        server = ModelServer(fake, Path(tmp))
        try:
            many = run(lambda: concurrent(server, args.concurrent))
            a, st = many["asking"], many["streaming"]
            print(
                f"3. {args.concurrent} replies at once, a chunk every "
                f"{args.concurrent_delay_ms:g} ms: RSS {many['rss_before_mib']:.0f} MiB before, "
                f"{many['rss_peak_mib']:.0f} MiB at the peak; /healthz while the {args.concurrent} "
                f"asks arrive p50 {a['p50_ms']:.1f} ms p99 {a['p99_ms']:.1f} ms max "
                f"{a['max_ms']:.1f} ms; while they all stream p50 {st['p50_ms']:.1f} ms p99 "
                f"{st['p99_ms']:.1f} ms max {st['max_ms']:.1f} ms",
                flush=True,
            )
            if shutil.which("wrk") is None:
                print("4. skipped: it needs wrk (apt-get install wrk)")
            else:
                beside = add_chat_beside(server, args.beside, args.seconds)
                print(
                    f"4. add_chat: {beside['alone_rps']:,.0f}/s alone, "
                    f"{beside['beside_rps']:,.0f}/s beside {args.beside} replies streaming "
                    f"({beside['beside_rps'] / beside['alone_rps']:.2f}x)",
                    flush=True,
                )
        finally:
            server.stop()
            fake.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
