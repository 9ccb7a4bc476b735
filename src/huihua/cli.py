"""The ``huihua`` command: ``serve`` and ``migrate`` here; ``backup``, ``stats``, ``purge``,
``export`` and ``import`` in huihua.commands, a module each.

Every option falls back to its ``HUIHUA_*`` environment variable, then to the default in
config.py; ``huihua serve --help`` shows them.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import socket
import sys
import tempfile
from typing import Any

import click

from huihua import __version__, logs
from huihua.commands import COMMANDS
from huihua.commands._common import database_option, load_settings
from huihua.config import LOG_LEVELS, PORT_MAX, Settings, help_of

log = logging.getLogger("huihua")

OPEN_FILES_UNLIMITED = 1_048_576  # the soft limit set when the hard one is unlimited


def _configure_logging(level: str) -> None:
    logs.configure(level)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="huihua")
def main() -> None:
    """huihua (会话): the chat-history service for AI chat apps."""


@main.command()
@click.option("--host", help=f"{help_of('host')} [env HUIHUA_HOST; default {Settings.host}]")
@click.option(
    "--port",
    type=click.IntRange(1, PORT_MAX),
    help=f"{help_of('port')} [env HUIHUA_PORT; default {Settings.port}]",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help=f"{help_of('workers')} [env HUIHUA_WORKERS; default {Settings.workers}]",
)
@database_option
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    help=f"{help_of('log_level')} [env HUIHUA_LOG_LEVEL; default {Settings.log_level}]",
)
@click.option(
    "--allow-no-auth",
    is_flag=True,
    default=None,
    help=f"{help_of('allow_no_auth')} Without it, serve refuses a non-loopback --host "
    "unless HUIHUA_SERVICE_KEY is set. [env HUIHUA_ALLOW_NO_AUTH]",
)
def serve(**options: Any) -> None:
    """Serve the API over HTTP.

    On the embedded SQLite default the schema is created or upgraded first; a PostgreSQL or
    MySQL database must already be current (run `huihua migrate`), or serve refuses to
    start. Auth is on when HUIHUA_SERVICE_KEY is set; without it serve listens on loopback
    only (see --allow-no-auth). Every setting in docs/configuration.md can also be given as
    HUIHUA_<NAME>.

    \b
    Replies asked of a model (/ask_ai, /follow_reply, /stop_reply) are served with
    HUIHUA_LLM_BASE_URL (an OpenAI-compatible API) and HUIHUA_LLM_MODELS; the others:
    HUIHUA_LLM_API_KEY, HUIHUA_LLM_SYSTEM_PROMPT, HUIHUA_LLM_CONTEXT_TOKENS,
    HUIHUA_LLM_THINK_TAGS, HUIHUA_LLM_DAILY_TOKENS, HUIHUA_LLM_QUOTA_TZ,
    HUIHUA_LLM_USER_REPLIES, HUIHUA_LLM_HOST_REPLIES, HUIHUA_LLM_CONNECT_TIMEOUT,
    HUIHUA_LLM_FIRST_TOKEN_TIMEOUT, HUIHUA_LLM_IDLE_TIMEOUT, HUIHUA_LLM_RETRY_BUDGET
    (docs/configuration.md).

    \b
    WeChat's content check of questions and replies (with HUIHUA_WECHAT_APPID and
    HUIHUA_WECHAT_SECRET): HUIHUA_WECHAT_CHECK, HUIHUA_WECHAT_CHECK_SCENE,
    HUIHUA_WECHAT_CHECK_UNREACHABLE, HUIHUA_WECHAT_CHECK_NOTICE; the "answer ready"
    subscription message: HUIHUA_WECHAT_NOTIFY_TEMPLATE, HUIHUA_WECHAT_NOTIFY_PAGE,
    HUIHUA_WECHAT_NOTIFY_STATE, HUIHUA_WECHAT_NOTIFY_DATA.
    """
    import uvicorn

    from huihua.store import StoreError, verify
    from huihua.store.engine import store_kind

    settings = load_settings(**options)
    _configure_logging(settings.log_level)
    problem = settings.exposure_problem()
    if problem is not None:
        raise click.ClickException(problem)
    try:
        embedded = store_kind(settings.database_url).embedded
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    # Every check that can refuse to start comes before anything is created or logged as
    # serving: the port first (taken before huihua.db is made), then the store.
    sock = _bind(settings.host, settings.port)
    try:
        warnings = verify(settings)
    except (StoreError, ValueError) as error:
        sock.close()
        raise click.ClickException(str(error)) from None
    for warning in warnings:
        log.warning("durability: %s", warning)
    if embedded and settings.workers > 1:
        # Measured (bench/README.md, "Workers on SQLite"): two workers served 1.78x the
        # reads of one and 0.91x the writes, at the same durability.
        log.info(
            "workers: %d processes on SQLite: reads spread over them; writes take turns at "
            "the one write lock, in smaller groups (docs/configuration.md)",
            settings.workers,
        )
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "loop": "uvloop",
        "log_config": None,
        "server_header": False,
        # The client address comes from X-Forwarded-For only through trusted_proxies
        # (access/credentials.py), never from uvicorn's own, looser, proxy handling.
        "proxy_headers": False,
        "http": "huihua.http.protocol:HuihuaProtocol",  # httptools, with head and body timeouts
        "timeout_keep_alive": settings.keep_alive_timeout,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    timeouts = (float(settings.head_timeout), float(settings.body_timeout))
    _raise_open_files_limit()
    log.info("huihua %s serving on http://%s:%d", __version__, settings.host, settings.port)
    if settings.workers == 1:
        from huihua.http.app import create_app

        config = uvicorn.Config(create_app(settings, started=freeze_heap), **common)
        config.huihua_timeouts = timeouts  # type: ignore[attr-defined]  # http/protocol.py
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
        if not server.started:
            sys.exit(3)  # as uvicorn.run: the app failed to start (logged)
        return
    from uvicorn.supervisors import Multiprocess

    os.environ.update(settings.to_env())  # the workers read the same settings
    config = uvicorn.Config(
        "huihua.cli:worker_app", factory=True, workers=settings.workers, **common
    )
    config.huihua_timeouts = timeouts  # type: ignore[attr-defined]  # pickled to each worker
    # /metrics adds up every worker's values, which each writes to files in this folder
    # (prometheus-client's multiprocess mode, read from the environment when it is imported).
    with tempfile.TemporaryDirectory(prefix="huihua-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        Multiprocess(config, sockets=[sock]).run()


def _raise_open_files_limit() -> None:
    """Raise the soft limit on open files to the hard one: each connection holds one (the
    soft limit is often 1,024, which a thousand idle clients use up)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, OPEN_FILES_UNLIMITED)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:
            log.warning("open files: cannot raise the limit from %d: %s", soft, error)
            return
        soft = target
    log.info("open files: at most %d (about as many connections at once)", soft)


def _bind(host: str, port: int) -> socket.socket:
    """Return a socket bound to host:port as uvicorn binds one; exit naming the cause
    when it cannot be (the port in use, an address not of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def worker_app() -> Any:
    """Return the app of one of several worker processes (settings from the environment)."""
    from huihua.http.app import create_app

    settings = Settings.load()
    _configure_logging(settings.log_level)
    return create_app(settings, started=freeze_heap)


def freeze_heap() -> None:
    """Keep what start-up made out of the collector's full passes (it lives as long as the
    process, and a full pass under load would otherwise walk it again and again)."""
    gc.collect()
    gc.freeze()


@main.command()
@database_option
@click.option(
    "--create-database",
    is_flag=True,
    help="First make the PostgreSQL or MySQL/MariaDB database the URL names, if it is not "
    "there (through the same server and credentials; MySQL's in utf8mb4). A SQLite file is "
    "made in any case.",
)
def migrate(create_database: bool, **options: Any) -> None:
    """Create the schema, or upgrade it to this version's."""
    from huihua.store import StoreError
    from huihua.store import migrate as run_migrations
    from huihua.store.admin import AdminError
    from huihua.store.admin import create_database as make_database

    settings = load_settings(**options)
    _configure_logging("warning")
    if create_database:
        try:
            if make_database(settings):
                click.echo("database created")
        except (AdminError, ValueError) as error:
            raise click.ClickException(str(error)) from None
    try:
        before, after = run_migrations(settings)
    except (StoreError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    if before == after:
        click.echo(f"schema already at revision {after}")
    else:
        click.echo(f"schema upgraded from revision {before or 'none'} to {after}")


for _command in COMMANDS:
    main.add_command(_command)
