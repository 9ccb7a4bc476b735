#!/usr/bin/env python3
"""A scaled-out huihua on one machine: three MariaDB Galera nodes, stateless huihua hosts,
HAProxy in front of both, Redis for the rate limits. Everything on 127.0.0.1.

    deploy/galera/up [--dir DIR] [--base-port N] [--hosts N]    start it all
    deploy/galera/down [--dir DIR]                               stop it all, remove DIR

(``up`` and ``down`` run this file.) Further commands, for tests and drills:
``kill-node N`` (SIGKILL), ``start-node N`` (rejoin), ``status``.

Layout (the ports from ``--base-port`` B, 23300 by default; DIR /tmp/huihua-galera):

    clients ─▶ HAProxy :B+60 (HTTP, health check GET /healthz) ─▶ huihua host j :B+50+j
    huihua host j ─▶ HAProxy :B+40+j (TCP) ─▶ node j, the other nodes as backups
    node i: SQL :B+i, Galera group :B+10+i, IST :B+20+i, SST (rsync) :B+30+i
    Redis :B+70;  HAProxy :B+61, :B+62, :B+63 serve the first 1, 2, 3 hosts only (bench/)

HAProxy's state: ``echo "show stat" | socat - DIR/haproxy.sock`` (``server_down`` here).
Each host is pointed at a node of its own through HAProxy; when that node dies, HAProxy
marks it down within a second and sends the host's new connections to a live node (its
open ones are cut), and moves them back once the node is up again. DIR/topology.json
tells where everything is (ports, process ids, URLs, the service key). Nodes run as the
``mysql`` user when run as root (rsync state transfer fails as root), with data in DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

NODES = 3
PROVIDER = "/usr/lib/galera/libgalera_smm.so"
DB_NAME, DB_USER = "huihua", "huihua"
CHECK_USER = "haproxy_check"  # no password, no grants: HAProxy's mysql-check logs in as it
# Galera's failure detector: a node silent for 1 s is suspected and, once the others
# agree, dropped from the cluster; the survivors' commits wait for that (default: 5 s).
# Shorter, or a shorter install or inactive timeout, and nodes failed to join here.
EVS = (
    "evs.keepalive_period=PT0.25S;evs.inactive_check_period=PT0.25S;"
    "evs.suspect_timeout=PT1S;evs.inactive_timeout=PT5S"
)
JOIN_ATTEMPTS = 3
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def ports(base: int) -> dict[str, Any]:
    return {
        "sql": [base + i for i in range(1, NODES + 1)],
        "group": [base + 10 + i for i in range(1, NODES + 1)],
        "ist": [base + 20 + i for i in range(1, NODES + 1)],
        "sst": [base + 30 + i for i in range(1, NODES + 1)],
        "db_front": [base + 40 + j for j in range(1, NODES + 1)],
        "host": [base + 50 + j for j in range(1, NODES + 1)],
        "front": base + 60,
        "front_first": [base + 60 + n for n in range(1, NODES + 1)],
        "redis": base + 70,
    }


def as_mysql(cwd: Path) -> dict[str, Any]:
    """Popen options that run a command as the mysql user (when we are root)."""
    options: dict[str, Any] = {"cwd": cwd, "stdin": subprocess.DEVNULL}
    options["env"] = {"PATH": SYSTEM_PATH, "HOME": str(cwd), "LANG": "C.UTF-8"}
    if os.geteuid() == 0:
        options.update(user="mysql", group="mysql", extra_groups=[])
    return options


def node_cnf(top: Path, i: int, p: dict[str, Any]) -> Path:
    n = i - 1
    home = top / f"node{i}"
    cluster = ",".join(f"127.0.0.1:{g}" for g in p["group"])
    provider_options = (
        f"gmcast.listen_addr=tcp://127.0.0.1:{p['group'][n]};"
        f"ist.recv_addr=127.0.0.1:{p['ist'][n]};gcache.size=128M;{EVS}"
    )
    text = f"""[mysqld]
datadir={home}/data
socket={home}/mysqld.sock
pid-file={home}/mysqld.pid
log-error={home}/error.log
port={p["sql"][n]}
bind-address=127.0.0.1
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
innodb_buffer_pool_size=64M
innodb_flush_log_at_trx_commit=1
max_connections=300
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider={PROVIDER}
wsrep_cluster_name=huihua
wsrep_cluster_address=gcomm://{cluster}
wsrep_node_name=node{i}
wsrep_node_address=127.0.0.1:{p["group"][n]}
wsrep_provider_options="{provider_options}"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:{p["sst"][n]}
# reads wait until this node has applied what the cluster committed before them, so a
# client that wrote through one host reads it back through any other
wsrep_sync_wait=1
"""
    path = home / "my.cnf"
    path.write_text(text)
    return path


def haproxy_cfg(top: Path, p: dict[str, Any], hosts: int) -> Path:
    lines = [
        "global",
        "    maxconn 4000",
        f"    pidfile {top}/haproxy.pid",
        f"    stats socket {top}/haproxy.sock mode 600 level operator",
        "defaults",
        "    timeout connect 2s",
        "    timeout client 1h",
        "    timeout server 1h",
        "    retries 2",
    ]
    for j in range(1, hosts + 1):  # host j's database: node j, the others as backups
        lines += [
            f"listen db{j}",
            f"    bind 127.0.0.1:{p['db_front'][j - 1]}",
            "    mode tcp",
            f"    option mysql-check user {CHECK_USER} post-41",
            "    default-server inter 500 fastinter 250 downinter 500 rise 3 fall 2"
            " on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions",
        ]
        order = [j] + [i for i in range(1, NODES + 1) if i != j]
        for rank, i in enumerate(order):
            backup = " backup" if rank else ""
            lines.append(f"    server node{i} 127.0.0.1:{p['sql'][i - 1]} check{backup}")
    http = [
        "    mode http",
        "    balance roundrobin",
        "    option httpchk GET /healthz",
        "    http-check expect status 200",
        "    option forwardfor",
        "    http-reuse always",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 10s",
        "    http-response set-header x-served-by %s",
        # /healthz waits behind a busy host's queries: patient checks, lest HAProxy
        # turn every host away under a burst (it then answers 503 itself)
        "    timeout check 5s",
        "    default-server inter 1s fastinter 500 rise 2 fall 3",
    ]
    fronts = [("front", p["front"], hosts)]
    fronts += [(f"front{n}", p["front_first"][n - 1], n) for n in range(1, hosts + 1)]
    for name, port, count in fronts:
        lines += [f"listen {name}", f"    bind 127.0.0.1:{port}", *http]
        for j in range(1, count + 1):
            lines.append(f"    server host{j} 127.0.0.1:{p['host'][j - 1]} check")
    path = top / "haproxy.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait(
    condition: Any, within_s: float, what: str, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if process is not None and process.poll() is not None:
            raise SystemExit(f"galera: exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"galera: timed out waiting for {what}")
        time.sleep(0.2)


def sql(top: Path, i: int, statement: str) -> str:
    """Run a statement on node i as root over its socket; return its tab-separated output."""
    done = subprocess.run(
        ["mariadb", f"--socket={top}/node{i}/mysqld.sock", "-uroot", "-N", "-B", "-e", statement],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    return done.stdout


def status_of(top: Path, i: int) -> dict[str, str]:
    """Return node i's wsrep status (empty when it does not answer)."""
    try:
        out = sql(top, i, "SHOW STATUS LIKE 'wsrep_%'")
    except (RuntimeError, subprocess.TimeoutExpired):
        return {}
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def synced(top: Path, i: int, size: int) -> bool:
    s = status_of(top, i)
    return (
        s.get("wsrep_ready") == "ON"
        and s.get("wsrep_local_state_comment") == "Synced"
        and s.get("wsrep_cluster_size") == str(size)
    )


def start_node(top: Path, i: int, *, new_cluster: bool = False) -> int:
    """Start node i (bootstrapping a new cluster when asked); return its pid once it is
    Synced (with the others that are up). A joiner that exits first is started again, up
    to JOIN_ATTEMPTS times: on a loaded machine the others, which suspect a node silent
    for 1 s (EVS), can drop it mid-join ("failed to reach primary view"; seen in CI)."""
    home = top / f"node{i}"
    command = ["mariadbd", f"--defaults-file={home}/my.cnf"]
    if new_cluster:
        command.append("--wsrep-new-cluster")
    others = sum(1 for n in range(1, NODES + 1) if n != i and status_of(top, n))
    for attempt in range(1, JOIN_ATTEMPTS + 1):
        log = open(home / "stdout.log", "ab")  # noqa: SIM115 (the daemon keeps it)
        process = subprocess.Popen(
            command, **as_mysql(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        state = load(top)
        state["pids"][f"node{i}"] = process.pid
        save(top, state)
        try:
            wait(lambda: synced(top, i, others + 1), 180, f"node{i} synced", process)
            return process.pid
        except SystemExit:
            if new_cluster or process.poll() is None or attempt == JOIN_ATTEMPTS:
                raise
            print(f"galera: node{i} exited before it synced; starting it again", file=sys.stderr)
    raise AssertionError("unreachable")


def kill_node(top: Path, i: int) -> None:
    pid = load(top)["pids"].get(f"node{i}")
    if pid:
        os.kill(pid, signal.SIGKILL)


def start_host(top: Path, j: int, state: dict[str, Any]) -> int:
    p = state["ports"]
    env = {k: v for k, v in os.environ.items() if k.startswith("HUIHUA_") or "PATH" in k}
    env.update(
        PATH=os.environ.get("PATH", SYSTEM_PATH),
        HUIHUA_DATABASE_URL=state["database_urls"][j - 1],
        HUIHUA_REDIS_URL=state["redis_url"],
        HUIHUA_SERVICE_KEY=state["service_key"],
        HUIHUA_TRUSTED_PROXIES="127.0.0.1",
        HUIHUA_LOG_LEVEL=os.environ.get("HUIHUA_LOG_LEVEL", "warning"),
    )
    log = open(top / f"host{j}.log", "ab")  # noqa: SIM115 (the daemon keeps it)
    process = subprocess.Popen(
        [sys.executable, "-m", "huihua", "serve", "--port", str(p["host"][j - 1])],
        env=env,
        cwd=top,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{p['host'][j - 1]}/healthz"
    wait(lambda: answers(url), 60, f"host{j} /healthz", process)
    return process.pid


def server_down(top: Path, backend: str, server: str) -> bool:
    """Return whether HAProxy has marked a server of a backend (``db2``, ``node2``) down."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(str(top / "haproxy.sock"))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    for line in data.decode().splitlines():
        fields = line.split(",")
        if fields[:2] == [backend, server]:
            return fields[17].startswith("DOWN")  # the status column
    raise LookupError(f"{backend}/{server}: not in HAProxy's stats")


def db_answers(state: dict[str, Any], port: int) -> bool:
    """Return whether the database answers a query through a port (HAProxy's)."""
    done = subprocess.run(
        ["mariadb", "-h127.0.0.1", f"-P{port}", f"-u{DB_USER}", "-N", "-e", "SELECT 1"],
        env={"PATH": SYSTEM_PATH, "MYSQL_PWD": state["db_password"]},
        capture_output=True,
        timeout=10,
    )
    return done.returncode == 0


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def load(top: Path) -> dict[str, Any]:
    return json.loads((top / "topology.json").read_text())


def save(top: Path, state: dict[str, Any]) -> None:
    """Write the state; only its owner may read it (a password and the service key)."""
    path = top / "topology.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps(state, indent=2) + "\n")


def up(top: Path, base: int, hosts: int) -> dict[str, Any]:
    if (top / "topology.json").exists():
        raise SystemExit(f"galera: {top} holds a topology already: deploy/galera/down first")
    if (top / "topology.stopped.json").exists():
        shutil.rmtree(top)  # what a failed `up` left for its logs to be read
    if top.exists() and any(top.iterdir()):
        raise SystemExit(f"galera: {top} is not empty: name a new folder with --dir")
    began = time.monotonic()
    top.mkdir(parents=True, exist_ok=True)
    top.chmod(0o755)  # (and its parents must let the mysql user through)
    p = ports(base)
    password = secrets.token_urlsafe(18)
    state: dict[str, Any] = {
        "dir": str(top),
        "ports": p,
        "hosts": hosts,
        "pids": {},
        "db_user": DB_USER,
        "db_password": password,
        "db_name": DB_NAME,
        "database_urls": [
            f"mysql://{DB_USER}:{password}@127.0.0.1:{p['db_front'][j]}/{DB_NAME}"
            for j in range(hosts)
        ],
        "node_urls": [
            f"mysql://{DB_USER}:{password}@127.0.0.1:{port}/{DB_NAME}" for port in p["sql"]
        ],
        "redis_url": f"redis://127.0.0.1:{p['redis']}/0",
        "service_key": secrets.token_urlsafe(32),
        "front_url": f"http://127.0.0.1:{p['front']}",
    }
    save(top, state)
    for i in range(1, NODES + 1):  # one after the other: side by side, they fail
        home = top / f"node{i}"
        home.mkdir()
        if os.geteuid() == 0:
            shutil.chown(home, "mysql", "mysql")
        cnf = node_cnf(top, i, p)
        installed = subprocess.run(
            ["mariadb-install-db", f"--defaults-file={cnf}", "--skip-test-db"],
            **as_mysql(home),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            raise SystemExit(f"galera: mariadb-install-db node{i} failed:\n{installed.stdout}")
    start_node(top, 1, new_cluster=True)
    sql(
        top,
        1,
        f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4; "
        f"CREATE USER '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
        f"GRANT ALL ON {DB_NAME}.* TO '{DB_USER}'@'127.0.0.1'; "
        f"GRANT USAGE ON *.* TO '{DB_USER}'@'127.0.0.1'; "
        f"CREATE USER '{CHECK_USER}'@'127.0.0.1';",
    )
    for i in range(2, NODES + 1):
        start_node(top, i)
    state = load(top)
    redis = subprocess.Popen(
        [
            *("redis-server", "--bind", "127.0.0.1", "--port", str(p["redis"]), "--save", ""),
            *("--appendonly", "no", "--dir", str(top), "--logfile", str(top / "redis.log")),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state["pids"]["redis"] = redis.pid
    cfg = haproxy_cfg(top, p, hosts)
    with open(top / "haproxy.log", "ab") as log:
        haproxy = subprocess.Popen(
            ["haproxy", "-f", str(cfg), "-db"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state["pids"]["haproxy"] = haproxy.pid
    save(top, state)
    wait(lambda: _listening(p["db_front"][0]), 10, "HAProxy listening", haproxy)
    migrated = subprocess.run(
        [sys.executable, "-m", "huihua", "migrate", "--database-url", state["node_urls"][0]],
        cwd=top,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if migrated.returncode != 0:
        raise SystemExit(f"galera: huihua migrate failed:\n{migrated.stderr[-2000:]}")
    for j in range(1, hosts + 1):
        wait(lambda j=j: db_answers(state, p["db_front"][j - 1]), 30, f"db{j} through HAProxy")
        state["pids"][f"host{j}"] = start_host(top, j, state)
        save(top, state)
    wait(lambda: answers(state["front_url"] + "/healthz"), 30, "HAProxy's front /healthz")
    state["up_in_s"] = round(time.monotonic() - began, 1)
    save(top, state)
    return state


def down(top: Path, *, remove: bool = True) -> None:
    """Stop every process the topology started (its own pids only), then remove DIR."""
    if not (top / "topology.json").exists():
        print(f"galera: nothing to stop in {top}")
        return
    pids = load(top)["pids"]
    for name, pid in pids.items():
        if not name.startswith("node"):
            _signal(pid, signal.SIGTERM)
    for name, pid in pids.items():
        if name.startswith("node"):
            _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    for pid in pids.values():
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal(pid, signal.SIGKILL)
    if remove:
        shutil.rmtree(top, ignore_errors=True)
    else:
        (top / "topology.json").rename(top / "topology.stopped.json")


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """Return whether a process runs (a zombie waiting for its parent does not)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="deploy/galera", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "kill-node", "start-node"])
    parser.add_argument("node", nargs="?", type=int, help="kill-node, start-node: 1, 2 or 3")
    parser.add_argument("--dir", default=os.environ.get("HUIHUA_GALERA_DIR", "/tmp/huihua-galera"))
    parser.add_argument("--base-port", type=int, default=23300)
    parser.add_argument("--hosts", type=int, default=3, choices=[1, 2, 3])
    args = parser.parse_args(argv)
    top = Path(args.dir).resolve()
    if args.command == "up":
        try:
            state = up(top, args.base_port, args.hosts)
        except BaseException:
            print(f"galera: up failed; logs in {top}; stopping what started", file=sys.stderr)
            logs = [*sorted(top.glob("node*/error.log")), *sorted(top.glob("*.log"))]
            for log in logs:
                print(f"--- {log}\n{log.read_text(errors='replace')[-1200:]}", file=sys.stderr)
            down(top, remove=False)
            raise
        print(f"galera: up in {state['up_in_s']} s; {top}/topology.json")
        print(f"galera: clients: {state['front_url']} (Authorization: Bearer <service_key>)")
    elif args.command == "down":
        down(top)
    elif args.command == "status":
        for i in range(1, NODES + 1):
            s = status_of(top, i)
            print(
                f"node{i}: {s.get('wsrep_local_state_comment', 'down')}, cluster size "
                f"{s.get('wsrep_cluster_size', '-')}"
            )
    elif args.command == "kill-node":
        kill_node(top, args.node)
    elif args.command == "start-node":
        start_node(top, args.node)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
