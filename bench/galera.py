"""Scale-out figures: add_chat and the 50-message read through HAProxy with 1, 2 and 3
huihua hosts on a three-node Galera cluster, beside one host on one plain MariaDB.

It brings up deploy/galera's topology in a temporary folder (three nodes, three hosts of
one worker each, HAProxy, Redis; auth on, rate limits in Redis set high enough never to
refuse), seeds it, and drives HAProxy's fronts that serve the first 1, 2 and 3 hosts with
wrk as bench/run.py does (one thread, ``--connections``, ``--duration`` s, a second of
warm-up). Beside it, one host of the same build and settings on a fresh database of this
machine's MariaDB (no Galera, no HAProxy). Every add_chat appends to one of 64 sessions
of its own user, so the cluster's writes rarely conflict; each request its own request_id.

    python3 bench/galera.py                   # 10 s per figure; about 3 minutes in all
    PYTHONPATH=$PWD/src python3 bench/galera.py --duration 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import run  # bench/run.py: wrk, the measure loop, the seed constants

TOPOLOGY = run.BENCH.parent / "deploy" / "galera" / "topology.py"
HIGH = "100000000"  # rate limits (per minute) no bench reaches: Redis is asked, never refuses


class Hosts(run.Server):
    """The hosts behind one of HAProxy's fronts, measured as one server (their RSS and
    CPU summed); ``nodes``: the Galera nodes, whose CPU is reported beside."""

    def __init__(self, base: str, pids: list[int], nodes: list[int]) -> None:
        self.base = base
        self.pids = pids
        self.nodes = nodes

    def rss_bytes(self) -> int:
        return sum(_rss(pid) for pid in self.pids)

    def worker_rss_bytes(self) -> int:
        return max(_rss(pid) for pid in self.pids)

    def cpu_seconds(self) -> float:
        return sum(_cpu(pid) for pid in self.pids)

    def nodes_cpu_seconds(self) -> float:
        return sum(_cpu(pid) for pid in self.nodes)


class AuthServer(run.Server):
    """One ``huihua serve`` with the topology's settings (auth on, Redis) on another URL."""

    def __init__(self, url: str, env: dict[str, str], workdir: Path) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
        self._start([*run.HUIHUA_SERVE], clean | env | {"HUIHUA_DATABASE_URL": url}, workdir)


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(base: str, headers: dict[str, str]) -> None:
    """The add_chat users and the 50-message session (as run.seed_http, with a credential)."""
    with httpx.Client(base_url=base, timeout=30, headers=headers) as http:
        for i in range(run.WRITERS):
            run._post(http, "/add_user", {"user_id": f"bench-{i}", "user_name": "bench"})
        run._post(http, "/add_user", {"user_id": "reader", "user_name": "reader"})
        for n in range(50):
            body = {"user_id": "reader", "session_id": "s50", "msg": run.MSG * 2}
            body.update(role="user" if n % 2 == 0 else "ai", meta={"model": "bench", "n": n})
            run._post(http, "/add_chat", body)


def figures(server: run.Server, auth: str, args: Any) -> dict[str, Any]:
    out = {}
    read = {"BENCH_PATH": "/query_session_info", "BENCH_BODY": run.READ_50}
    for name, script, env in (
        ("add_chat", "add_chat.lua", run.add_chat_env()),
        ("query_session_info(50)", "post_body.lua", read),
    ):
        nodes_before = server.nodes_cpu_seconds() if isinstance(server, Hosts) else 0.0
        r = run.measure(server, script, env | {"BENCH_AUTHORIZATION": auth}, args)
        if isinstance(server, Hosts):
            requests = r["rps"] * args.duration
            # includes the warm-up second's requests' node CPU too: an upper bound
            r["nodes_cpu_us"] = (server.nodes_cpu_seconds() - nodes_before) / requests * 1e6
        out[name] = r
        extra = f"  nodes cpu {r['nodes_cpu_us']:5.0f} µs/req" if "nodes_cpu_us" in r else ""
        print(f"  {name:<24} {run._row(r)}{extra}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per figure")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--base-port", type=int, default=25300)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="huihua-bench-galera-"))
    workdir.chmod(0o755)  # the nodes run as the mysql user
    top = workdir / "topology"
    where = ["--dir", str(top)]
    env = dict(os.environ, HUIHUA_RATE_LIMIT_USER=HIGH, HUIHUA_RATE_LIMIT_ADDRESS=HIGH)
    results: dict[str, Any] = {"cores": os.cpu_count(), "duration_s": args.duration}
    began = time.monotonic()
    try:
        subprocess.run(
            [sys.executable, str(TOPOLOGY), "up", *where, "--base-port", str(args.base_port)],
            env=env,
            check=True,
            timeout=300,
        )
        state = json.loads((top / "topology.json").read_text())
        auth = f"Bearer {state['service_key']}"
        seed(state["front_url"], {"authorization": auth})
        nodes = [state["pids"][f"node{i}"] for i in (1, 2, 3)]
        print(f"\nGalera, 3 nodes; {args.connections} connections, {args.duration} s each")
        for n in (1, 2, 3):
            print(f"HAProxy -> {n} host{'s' if n > 1 else ''}:")
            hosts = [state["pids"][f"host{j}"] for j in range(1, n + 1)]
            base = f"http://127.0.0.1:{state['ports']['front_first'][n - 1]}"
            results[f"galera_{n}_hosts"] = figures(Hosts(base, hosts, nodes), auth, args)
        print("one host on this machine's plain MariaDB (no Galera, no HAProxy):")
        host_env = {
            "HUIHUA_SERVICE_KEY": state["service_key"],
            "HUIHUA_REDIS_URL": state["redis_url"],
            "HUIHUA_RATE_LIMIT_USER": HIGH,
            "HUIHUA_RATE_LIMIT_ADDRESS": HIGH,
            "HUIHUA_LOG_LEVEL": "warning",
        }
        with run.database("mysql", workdir) as url:
            plain = AuthServer(url, host_env, workdir)
            try:
                seed(plain.base, {"authorization": auth})
                results["plain_mariadb_1_host"] = figures(plain, auth, args)
            finally:
                plain.stop()
        ratios(results)
    finally:
        subprocess.run([sys.executable, str(TOPOLOGY), "down", *where], timeout=120)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n(run in {time.monotonic() - began:.0f} s on {os.cpu_count()} cores)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def ratios(results: dict[str, Any]) -> None:
    plain = results["plain_mariadb_1_host"]
    print("\nrequests/s as a ratio of one host on plain MariaDB:")
    for name in ("add_chat", "query_session_info(50)"):
        shares = [results[f"galera_{n}_hosts"][name]["rps"] / plain[name]["rps"] for n in (1, 2, 3)]
        row = "  ".join(f"{n} host(s) {x:.2f}x" for n, x in enumerate(shares, 1))
        print(f"  {name:<24} {row}")


if __name__ == "__main__":
    main()
