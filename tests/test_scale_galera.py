"""Scale-out for real: three huihua hosts on a three-node MariaDB Galera cluster, behind
HAProxy, rate limits in Redis, and one node SIGKILLed under load.

``deploy/galera/up`` brings the topology up in a temporary folder on loopback ports of its
own (docs/scaling.md). Clients write through HAProxy's front, so every host serves and
every node takes writes; the appends go to a few shared sessions, so transactions on
different nodes conflict (Galera's certification failures, run again by the runner).
Every write carries a request_id and a message naming it; a reply other than ok 0 (ok 8,
HTTP 503, a cut connection) is retried with the same body until acknowledged. Midway,
node 2 is killed with SIGKILL; a probe writing straight to host 2 (whose node it was)
measures how long until a write through it is acknowledged again. The node is then
started again and rejoins (IST) while the load goes on. Proves:
- no reply is ever ok 9 (nor any code but 0 and 8), and every write is acknowledged;
- every acknowledged message is stored once, at the seq it was answered with, on every
  node; every session's seqs run 1..N and its chat_count is N, on every node;
- the killed node, restarted, has rejoined (Synced, cluster size 3) with the same data;
- BURST appends sent at once to one session through the three hosts get seqs 1..BURST;
- one request_id sent to the three hosts at once (TWINS copies) makes one write, and
  every copy acknowledged gets the same reply;
- HAProxy sends host 2 to a live node within FAILOVER_S of the kill, and host 2
  acknowledges a write within ACK_AGAIN_S (Galera's survivors commit nothing until they
  have dropped the dead node, about 2 s here); every host served writes.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import MySQLdb
import pytest
from sqlalchemy.engine import make_url

pytestmark = [pytest.mark.galera, pytest.mark.mysql, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGY = ROOT / "deploy" / "galera" / "topology.py"
_spec = importlib.util.spec_from_file_location("galera_topology", TOPOLOGY)
assert _spec is not None and _spec.loader is not None
topology_py = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(topology_py)
WRITERS = 32  # concurrent clients through the front
USERS, SESSIONS = 4, 2  # their appends share these 8 sessions
BEFORE_KILL = 300  # acknowledged writes before the kill
AFTER_REJOIN = 300  # and after the killed node is back
FAILOVER_S = 2.0  # HAProxy sends host 2 to a live node within this of its node's death
ACK_AGAIN_S = 6.0  # and host 2 acknowledges a write (once Galera dropped the dead node)
WRITE_PATIENCE_S = 60  # a write not acknowledged by then fails the test
TWIN_ROUNDS, TWINS = 10, 12  # one request_id sent to every host at once, copies a round
BURST = 320  # appends sent at once to one session through the three hosts


def _ports_free(base: int) -> bool:
    for port in range(base, base + 71):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The whole topology, up in a temporary folder; down (and removed) at the end, its
    logs kept in pytest's temporary folder (galera-logs*)."""
    base = next(b for b in range(24300, 29000, 100) if _ports_free(b))
    top = Path(tempfile.mkdtemp(prefix="huihua-galera-")) / "topology"
    top.parent.chmod(0o755)  # the nodes run as the mysql user
    env = dict(os.environ)
    env.update(HUIHUA_RATE_LIMIT_USER="100000", HUIHUA_RATE_LIMIT_ADDRESS="100000")
    command = [sys.executable, str(TOPOLOGY)]
    where = ["--dir", str(top)]
    try:
        up = subprocess.run(
            [*command, "up", *where, "--base-port", str(base)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-6000:]
        state = json.loads((top / "topology.json").read_text())
        state["command"], state["where"] = command, where
        yield state
    finally:
        kept = tmp_path_factory.mktemp("galera-logs")
        for log in [*top.glob("*.log"), *top.glob("node*/error.log")]:
            shutil.copy(log, kept / f"{log.parent.name}-{log.name}")
        subprocess.run([*command, "down", *where], capture_output=True, timeout=120)
        shutil.rmtree(top.parent, ignore_errors=True)


@dataclass
class Load:
    """What the clients were answered."""

    acked: list[tuple[str, str, int, str]] = field(default_factory=list)
    codes: Counter[Any] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    stop: bool = False
    twins: int = 0


async def write_until_acknowledged(
    client: httpx.AsyncClient, load: Load, user: str, session: str
) -> tuple[float, float] | None:
    """Append one message, retrying it with its request_id until ok 0; return when the
    attempt that was acknowledged was sent, and when it was acknowledged."""
    request_id = f"r-{uuid.uuid4().hex}"
    body = {"request_id": request_id, "user_id": user, "session_id": session}
    body.update(role="user", msg=f"m {request_id}")
    deadline = time.monotonic() + WRITE_PATIENCE_S
    while time.monotonic() < deadline:
        sent = time.monotonic()
        try:
            response = await client.post("/add_chat", json=body)
        except httpx.HTTPError as error:
            load.codes[type(error).__name__] += 1
            await asyncio.sleep(0.05)
            continue
        try:
            reply = response.json()
        except ValueError:  # HAProxy's own answer (no host could take it), not huihua's
            load.codes[f"HAProxy {response.status_code}"] += 1
            await asyncio.sleep(0.05)
            continue
        load.codes[reply["ok"]] += 1
        if reply["ok"] == 0:
            load.served_by[response.headers.get("x-served-by", "direct")] += 1
            load.acked.append((user, session, reply["seq"], body["msg"]))
            return sent, time.monotonic()
        if reply["ok"] != 8:
            load.bad.append(f"{response.status_code} {reply}")
            return None
        await asyncio.sleep(0.05)
    load.bad.append(f"not acknowledged within {WRITE_PATIENCE_S} s: {request_id}")
    return None


async def writer(client: httpx.AsyncClient, load: Load, n: int) -> None:
    k = n
    while not load.stop and not load.bad:
        user = f"scale-u{k % USERS}"
        session = f"s{(k // USERS) % SESSIONS}"
        await write_until_acknowledged(client, load, user, session)
        k += 1


async def wait_for(condition: Any, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def scenario(state: dict[str, Any]) -> tuple[Load, tuple[float, float], float]:
    headers = {"authorization": f"Bearer {state['service_key']}"}
    limits = httpx.Limits(max_connections=WRITERS, max_keepalive_connections=WRITERS)
    load = Load()
    async with (
        httpx.AsyncClient(
            base_url=state["front_url"], headers=headers, timeout=30, limits=limits
        ) as front,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{state['ports']['host'][1]}", headers=headers, timeout=30
        ) as host2,
    ):
        for user in [f"scale-u{u}" for u in range(USERS)] + ["scale-burst"]:
            reply = (await front.post("/add_user", json={"user_id": user})).json()
            assert reply["ok"] == 0, reply
        writers = [asyncio.ensure_future(writer(front, load, n)) for n in range(WRITERS)]
        try:
            await wait_for(lambda: len(load.acked) >= BEFORE_KILL or load.bad, 120, "load")
            os.kill(state["pids"]["node2"], signal.SIGKILL)
            killed = time.monotonic()
            rerouted = asyncio.ensure_future(asyncio.to_thread(marked_down, state))
            done = await write_until_acknowledged(host2, load, "scale-u0", "s0")
            assert done is not None, load.bad
            failover_s = ((await rerouted) - killed, done[1] - killed)
            began = time.monotonic()
            await asyncio.to_thread(
                subprocess.run,
                [*state["command"], "start-node", "2", *state["where"]],
                check=True,
                capture_output=True,
                timeout=240,
            )
            rejoin_s = time.monotonic() - began
            target = len(load.acked) + AFTER_REJOIN
            await wait_for(lambda: len(load.acked) >= target or load.bad, 120, "load after")
            for n in range(TWIN_ROUNDS):  # under load: one request_id to every host at once
                await twins(state, headers, load, f"scale-u{n % USERS}", f"s{n % SESSIONS}")
            await burst(state, headers, load)
        finally:
            load.stop = True
            await asyncio.gather(*writers, return_exceptions=True)
    return load, failover_s, rejoin_s


async def burst(state: dict[str, Any], headers: dict[str, str], load: Load) -> None:
    """BURST appends at once to one session, spread over the three hosts (so over the
    three nodes): the most cross-node contention, each write retried until acknowledged."""
    bases = [f"http://127.0.0.1:{port}" for port in state["ports"]["host"]]
    limits = httpx.Limits(max_connections=BURST)
    clients = [
        httpx.AsyncClient(base_url=b, headers=headers, timeout=60, limits=limits) for b in bases
    ]
    try:
        await asyncio.gather(
            *(
                write_until_acknowledged(clients[n % len(clients)], load, "scale-burst", "s0")
                for n in range(BURST)
            )
        )
    finally:
        for client in clients:
            await client.aclose()


def marked_down(state: dict[str, Any]) -> float:
    """Return when HAProxy marked node 2 down for host 2 (its new connections then go to a
    live node, its open ones are cut)."""
    top = Path(state["dir"])
    deadline = time.monotonic() + 30
    while not topology_py.server_down(top, "db2", "node2"):
        assert time.monotonic() < deadline, "HAProxy never marked node2 down"
        time.sleep(0.01)
    return time.monotonic()


async def twins(
    state: dict[str, Any], headers: dict[str, str], load: Load, user: str, session: str
) -> None:
    """Send TWINS copies of one append (one request_id) straight to the hosts, spread over
    all three at once: every ok 0 reply must be the same, and one message is made."""
    request_id = f"r-twin-{uuid.uuid4().hex}"
    body = {"request_id": request_id, "user_id": user, "session_id": session}
    body.update(role="user", msg=f"m {request_id}")
    bases = [f"http://127.0.0.1:{port}" for port in state["ports"]["host"]]
    clients = [httpx.AsyncClient(base_url=b, headers=headers, timeout=30) for b in bases]
    try:
        replies = await asyncio.gather(
            *(clients[n % len(clients)].post("/add_chat", json=body) for n in range(TWINS))
        )
    finally:
        for client in clients:
            await client.aclose()
    answers = [r.json() for r in replies]
    assert {a["ok"] for a in answers} <= {0, 8}, answers
    acked = {r.content for r, a in zip(replies, answers, strict=True) if a["ok"] == 0}
    if not acked:  # every copy ok 8: a retry with the request_id makes or finds the write
        seq_at = await write_again(bases[0], headers, body)
        acked = {seq_at}
    seqs = {json.loads(a)["seq"] for a in acked}
    assert len(seqs) == 1 and len(acked) == 1, acked
    load.acked.append((user, session, seqs.pop(), body["msg"]))
    load.twins += 1


async def write_again(base: str, headers: dict[str, str], body: dict[str, Any]) -> bytes:
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        for _ in range(100):
            response = await client.post("/add_chat", json=body)
            if response.json()["ok"] == 0:
                return response.content
            await asyncio.sleep(0.1)
    raise AssertionError(f"not acknowledged: {body['request_id']}")


Key = tuple[str, str, int]  # user_id, session_id, seq


@dataclass
class NodeRows:
    """The test users' rows on one node, read whole (SELECT *: whatever columns the
    message model has by now), keyed by (user_id, session_id, seq)."""

    messages: dict[Key, dict[str, Any]]
    sessions: dict[tuple[str, str], dict[str, Any]]


def node_rows(url: str) -> NodeRows:
    u = make_url(url)
    conn = MySQLdb.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, database=u.database
    )
    try:
        cursor = conn.cursor()
        cursor.execute("SET SESSION wsrep_sync_wait = 1")

        def rows(table: str) -> list[dict[str, Any]]:
            cursor.execute(f"SELECT * FROM {table} WHERE user_id LIKE 'scale-%'")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, map(_text, row), strict=True)) for row in cursor.fetchall()]

        found = rows("chat_messages")
        messages = {(r["user_id"], r["session_id"], int(r["seq"])): r for r in found}
        sessions = {(r["user_id"], r["session_id"]): r for r in rows("chat_sessions")}
        return NodeRows(messages, sessions)
    finally:
        conn.close()


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes | bytearray) else value


def wsrep(url: str) -> dict[str, str]:
    u = make_url(url)
    conn = MySQLdb.connect(host=u.host, port=u.port, user=u.username, password=u.password)
    try:
        cursor = conn.cursor()
        cursor.execute("SHOW STATUS LIKE 'wsrep_%'")
        return {_text(k): _text(v) for k, v in cursor.fetchall()}
    finally:
        conn.close()


@pytest.mark.timeout(600)
def test_a_node_killed_under_load_through_every_host_loses_nothing(
    topology: dict[str, Any],
) -> None:
    began = time.monotonic()
    load, failover_s, rejoin_s = asyncio.run(scenario(topology))
    assert not load.bad, load.bad[:5]
    assert set(load.codes) <= {0, 8} | {k for k in load.codes if isinstance(k, str)}, load.codes
    assert 9 not in load.codes
    assert {"host1", "host2", "host3"} <= set(load.served_by), load.served_by

    for url in topology["node_urls"]:
        status = wsrep(url)
        assert status["wsrep_local_state_comment"] == "Synced", (url, status)
        assert status["wsrep_cluster_size"] == "3", (url, status)
    acked = {(user, session, seq): msg for user, session, seq, msg in load.acked}
    assert len(acked) == len(load.acked)  # no seq acknowledged to two writes
    per_session: dict[tuple[str, str], list[int]] = defaultdict(list)
    for user, session, seq, _ in load.acked:
        per_session[(user, session)].append(seq)
    seen = [node_rows(url) for url in topology["node_urls"]]
    for n, node in enumerate(seen, 1):
        # Every write was acknowledged in the end, so the stored messages are exactly the
        # acknowledged ones: one stored twice would be a seq no client was told.
        assert set(node.messages) == set(acked), (
            f"node{n}: missing {sorted(set(acked) - set(node.messages))[:5]}, "
            f"never acknowledged {sorted(set(node.messages) - set(acked))[:5]}"
        )
        assert node == seen[0], f"node{n}'s rows differ from node1's"
        for key, msg in acked.items():
            assert node.messages[key].get("msg", msg) == msg, (n, key)
        for (user, session), seqs in per_session.items():
            assert sorted(seqs) == list(range(1, len(seqs) + 1)), (n, user, session)
            stored = node.sessions[(user, session)]
            assert int(stored.get("chat_count", len(seqs))) == len(seqs), (n, user, session)
    assert failover_s[0] < FAILOVER_S, failover_s
    assert failover_s[1] < ACK_AGAIN_S, failover_s
    print(
        f"\ngalera scale: {len(load.acked)} writes acknowledged through 3 hosts "
        f"({dict(load.served_by)}), answers {dict(load.codes)}, {len(per_session)} sessions, "
        f"{load.twins} rounds of {TWINS} twins one write each; "
        f"node2 SIGKILLed: HAProxy sent host2 to a live node {failover_s[0]:.2f} s later, "
        f"host2 acknowledged a write at {failover_s[1]:.2f} s; node2 rejoined "
        f"in {rejoin_s:.1f} s; set-up {topology.get('up_in_s')} s, run "
        f"{time.monotonic() - began:.0f} s"
    )
