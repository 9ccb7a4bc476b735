"""Fixtures: a real store of each kind, and the real app serving it over HTTP.

Every test that takes ``api`` runs three times: on SQLite, PostgreSQL and MariaDB/MySQL.
Each test run makes its own databases (``huihua_test_<random>``) and drops them at the end.
The servers listen on loopback, on a free port, in a thread of the test process: requests
go through uvicorn and the whole app, exactly as a client's do.

PostgreSQL and MariaDB are found at HUIHUA_TEST_POSTGRES_URL and HUIHUA_TEST_MYSQL_URL
(defaults: the local servers as this machine starts them). A store that cannot be reached
fails its tests: none is ever skipped.

``--quick`` (``python3 -m pytest --quick``) is the tier that needs only Python and SQLite:
it deselects every test marked as needing a server or an outside program, or as too slow
for the tier (QUICK_LEAVES_OUT, the markers of pyproject.toml). A test parametrized on a
server store ("postgresql", "mysql" as a parameter's value: ``store_kind`` and the tests'
own ``kind`` lists) is given that store's marker here, so only the SQLite runs stay.
Without ``--quick`` nothing is deselected.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from huihua.config import Settings
from huihua.http.app import create_app
from huihua.store import migrate

from .chromium import browser  # noqa: F401 (a fixture: the pages' tests share one browser a module)
from .fake_model import FakeModel
from .fake_wechat import APPID, SECRET, FakeWeChat
from .helpers import start_in_thread

STORES = ("sqlite", "postgresql", "mysql")
# The stores that need a server, each the name of the marker its tests are given.
SERVER_STORES = ("postgresql", "mysql")
# What --quick leaves out: the markers (pyproject.toml) of what needs more than Python and
# SQLite, or takes too long for the quick tier.
QUICK_LEAVES_OUT = (
    *SERVER_STORES,
    "redis",
    "chromium",
    "node",
    "nginx",
    "podman",
    "galera",
    "slow",
)
POSTGRES_URL = os.environ.get(
    "HUIHUA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_URL = os.environ.get("HUIHUA_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        help="the quick tier: only the tests that need nothing but Python and SQLite "
        f"(leaves out those marked {', '.join(QUICK_LEAVES_OUT)})",
    )


def quick(config: pytest.Config) -> bool:
    return bool(config.getoption("quick"))


def _marks_of_its_stores(item: pytest.Item) -> None:
    """Mark a test run on a server store (a parameter's value "postgresql" or "mysql")."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return
    for value in callspec.params.values():
        if isinstance(value, str) and value in SERVER_STORES:
            item.add_marker(value)


@pytest.hookimpl(tryfirst=True)  # before -m reads the markers (pytest's mark plugin)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        _marks_of_its_stores(item)
    if not quick(config):
        return
    kept, left_out = [], []
    for item in items:
        leaves = any(item.get_closest_marker(name) for name in QUICK_LEAVES_OUT)
        (left_out if leaves else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Databases:
    """Makes databases for one test run, and drops them all at its end."""

    tmp: Path
    quick: bool = False
    made: list[tuple[str, str]] = field(default_factory=list)

    def create(self, kind: str) -> str:
        """Return the URL of a new, empty database of this kind (no schema yet)."""
        name = f"huihua_test_{uuid.uuid4().hex[:12]}"
        if kind == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.db')}"
        if self.quick:  # the test lacks its store's marker: say so, not "connection refused"
            pytest.fail(
                f"--quick runs no {kind} test: mark this one @pytest.mark.{kind}", pytrace=False
            )
        if kind == "postgresql":
            admin = create_engine(_driver(POSTGRES_URL), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            self.made.append((kind, name))
            return make_url(POSTGRES_URL).set(database=name).render_as_string(False)
        admin = create_engine(_driver(MYSQL_URL))
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        admin.dispose()
        self.made.append((kind, name))
        return make_url(MYSQL_URL).set(database=name).render_as_string(False)

    def drop_all(self) -> None:
        for kind, name in self.made:
            if kind == "postgresql":
                admin = create_engine(_driver(POSTGRES_URL), isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                admin = create_engine(_driver(MYSQL_URL))
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            admin.dispose()


def _driver(url: str) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = "postgresql+psycopg" if backend.startswith("postgres") else "mysql+mysqldb"
    return parsed.set(drivername=driver).render_as_string(False)


@pytest.fixture(scope="session")
def databases(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("stores"), quick=quick(pytestconfig))
    yield dbs
    dbs.drop_all()


class Api:
    """A client of one running server: ``post`` a JSON body, get the httpx response."""

    def __init__(self, base_url: str, app: Any, kind: str, settings: Settings) -> None:
        self.base_url = base_url
        self.app = app
        self.kind = kind
        self.settings = settings
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        """POST ``body`` as JSON (or ``content=`` raw bytes) to ``path``."""
        if body is not None:
            kwargs["json"] = body
        return self.http.post(path, **kwargs)

    def call(self, path: str, **fields: Any) -> dict[str, Any]:
        """POST the fields as a JSON object; return the reply body."""
        return self.post(path, fields).json()

    def new_user(self, **profile: Any) -> str:
        """Return the id of a freshly added user."""
        user_id = f"u-{uuid.uuid4().hex}"
        reply = self.call("/add_user", user_id=user_id, user_name="tester", **profile)
        assert reply["ok"] == 0, reply
        return user_id

    def close(self) -> None:
        self.http.close()


class RunningServer:
    """The app for some settings, served by uvicorn in a thread on a free port."""

    def __init__(self, settings: Settings, **app_options: Any) -> None:
        self.app = create_app(settings, **app_options)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            proxy_headers=False,  # as `huihua serve`: X-Forwarded-For is access's to judge
        )
        self.server, self.thread = start_in_thread(config, "test server")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def serve(databases: Databases) -> Iterator[Callable[..., Api]]:
    """Return a function that serves a new database of a kind, with settings changed
    (``app_options``: what else create_app is given: endpoints, observers)."""
    running: list[tuple[RunningServer, Api]] = []

    def start(
        kind: str,
        *,
        migrated: bool = True,
        app_options: dict[str, Any] | None = None,
        **changes: Any,
    ) -> Api:
        url = changes.pop("database_url", None) or databases.create(kind)
        settings = Settings(database_url=url, port=free_port(), **changes)
        if migrated:
            migrate(settings)
        server = RunningServer(settings, **(app_options or {}))
        api = Api(f"http://127.0.0.1:{settings.port}", server.app, kind, settings)
        running.append((server, api))
        return api

    yield start
    for server, api in running:  # all told to stop first: they shut down side by side
        api.close()
        server.server.should_exit = True
    for server, _ in running:
        server.stop()


@pytest.fixture(scope="session", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def model() -> Iterator[FakeModel]:
    """The fake OpenAI-compatible model (fake_model.py), scripted by the tests."""
    fake = FakeModel(free_port())
    yield fake
    fake.stop()


MODEL_KEY = "sk-MODEL-KEY-canary-0123456789abcdef"
MODELS = ("fake-chat", "fake-reasoner")


def model_settings(model: FakeModel, **changes: Any) -> dict[str, Any]:
    """Return the settings changes that serve the replies of §8 against ``model``."""
    return {
        "llm_base_url": model.base_url,
        "llm_api_key": MODEL_KEY,
        "llm_models": ",".join(MODELS),
        **changes,
    }


@pytest.fixture(scope="session")
def api(serve: Callable[..., Api], store_kind: str, wechat: FakeWeChat, model: FakeModel) -> Api:
    """A server on a fresh database of each kind, shared by the tests of that kind: auth
    off, every endpoint of the table served (/login against the fake WeChat, the replies
    against the fake model), and a user's search digest made by their first search that
    reads all their messages (so that a user's later searches go through it)."""
    return serve(
        store_kind, **login_settings(wechat), **model_settings(model), search_digest_from=0
    )


@pytest.fixture
def user(api: Api) -> str:
    """A user that exists on ``api``'s store."""
    return api.new_user()


# -- auth on: a service key, user tokens, a fake WeChat on loopback ------------------------

SERVICE_KEY = "svc-KEY-canary-" + "0123456789abcdefghijklmnopqrstuv"
TOKEN_SECRET = "tok-SECRET-canary-" + "0123456789abcdefghijklmnopqrstuv"


@pytest.fixture(scope="session")
def wechat() -> Iterator[FakeWeChat]:
    """The fake WeChat jscode2session server (fake_wechat.py)."""
    fake = FakeWeChat(free_port())
    yield fake
    fake.stop()


def login_settings(wechat: FakeWeChat, **changes: Any) -> dict[str, Any]:
    """Return the settings changes that serve /login against ``wechat`` (auth stays off)."""
    return {
        "token_secret": TOKEN_SECRET,
        "wechat_appid": APPID,
        "wechat_secret": SECRET,
        "wechat_api_base": wechat.base,
        # Long enough for the fake WeChat on a loaded two-core machine (500 ms timed out
        # there under a full suite), short of its "slow" answers (fake_wechat.SLOW_S).
        "wechat_timeout_ms": 1_500,
        **changes,
    }


def secure_settings(wechat: FakeWeChat, **changes: Any) -> dict[str, Any]:
    """Return the settings changes that turn auth on, with /login against ``wechat``."""
    return login_settings(wechat, service_key=SERVICE_KEY, **changes)


@pytest.fixture(scope="session")
def secured(
    serve: Callable[..., Api], store_kind: str, wechat: FakeWeChat, model: FakeModel
) -> Api:
    """A server with auth on (rate limits off) on each store, the replies against the fake
    model; its client sends the service key unless a request says otherwise."""
    api = serve(
        store_kind,
        **secure_settings(wechat, rate_limit_user=0, rate_limit_address=0),
        **model_settings(model),
    )
    api.http.headers["authorization"] = f"Bearer {SERVICE_KEY}"
    return api


# -- a hung test ----------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # a hook of pytest-timeout
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """pytest-timeout's thread method (pyproject.toml), naming the test it ends the run on.

    Its own timer prints every thread's stack and ends the process: the test's function
    shows in a stack, its id (the store, the parameters) nowhere. This one says the id
    first, then hands over to the plugin's dump.
    """
    if settings.method != "thread":
        return None
    import pytest_timeout

    def expired() -> None:
        capture = item.config.pluginmanager.getplugin("capturemanager")
        if capture:  # the plugin's dump does this too; the line goes to the terminal first
            capture.suspend_global_capture(item)
        item.config.get_terminal_writer().line(
            f"\n{item.nodeid}: still running after {settings.timeout:g} s (pytest-timeout)"
        )
        pytest_timeout.timeout_timer(item, settings)

    timer = threading.Timer(settings.timeout, expired)
    timer.name = f"timeout {item.nodeid}"

    def cancel() -> None:  # pytest-timeout calls item.cancel_timeout after the test
        timer.cancel()
        timer.join()

    item.cancel_timeout = cancel  # type: ignore[attr-defined]
    timer.start()
    return True


# -- what the server logs ------------------------------------------------------------------

# The loggers a huihua server process writes to, besides the root: huihua's own tree and
# the libraries it runs on. uvicorn's access logger is not among them: `huihua serve` turns
# it off and writes its own access line (huihua.access).
PRODUCT_LOGGERS = ("huihua", "httpx", "httpcore", "uvicorn.error", "alembic", "sqlalchemy")


class LogCapture(logging.Handler):
    """Every record that reaches the server's loggers, each once, formatted as a line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.records: list[logging.LogRecord] = []
        self._lines: list[str] = []
        self._seen: set[int] = set()
        self._grew = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if id(record) in self._seen:  # attached to a logger and to one of its ancestors
            return
        self._seen.add(id(record))  # the record stays in self.records: its id is not reused
        line = self.format(record)  # the message, and the traceback of an exception
        with self._grew:
            self.records.append(record)
            self._lines.append(line)
            self._grew.notify_all()

    @property
    def text(self) -> str:
        with self._grew:
            return "\n".join(self._lines)

    def wait_for(self, fragment: str, timeout: float = 10) -> None:
        """Return once a line holds ``fragment``; fail the test if none does in time."""
        deadline = time.monotonic() + timeout
        with self._grew:
            while not any(fragment in line for line in self._lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no log line holds {fragment!r} after {timeout} s")
                self._grew.wait(left)


@pytest.fixture
def server_logs() -> Iterator[LogCapture]:
    """Capture, at DEBUG, every record of every logger the server writes to, whatever the
    pytest version (caplog reaches only what pytest attaches to, which changes).

    The handler goes on the root, on each of PRODUCT_LOGGERS and on every logger of theirs
    that does not pass its records up; the root is set to DEBUG, as ``caplog.set_level``
    would. Levels the code itself set on a logger stay: they are part of what is tested
    (huihua keeps httpx at WARNING, as its request lines carry WeChat's secret).
    """
    capture = LogCapture()
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in PRODUCT_LOGGERS)]
    loggers += [
        logger
        for name, logger in root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
        and not logger.propagate
        and logger not in loggers
        and any(name.startswith(product + ".") for product in PRODUCT_LOGGERS)
    ]
    saved_level = root.level
    for logger in loggers:
        logger.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.setLevel(saved_level)
        for logger in loggers:
            logger.removeHandler(capture)
