"""Fixtures: a real store of each kind, and the real app serving it over HTTP.

Every test that takes ``api`` runs three times: on SQLite, PostgreSQL and MariaDB/MySQL.
Each test run makes its own databases (``huihua_test_<random>``) and drops them at the end.
The servers listen on loopback, on a free port, in a thread of the test process: requests
go through uvicorn and the whole app, exactly as a client's do.

PostgreSQL and MariaDB are found at HUIHUA_TEST_POSTGRES_URL and HUIHUA_TEST_MYSQL_URL
(defaults: the local servers as this machine starts them). A store that cannot be reached
fails its tests: none is ever skipped.

``--quick`` (``python3 -m pytest --quick``) is the tier that needs only Python and SQLite
(quick_tier.py); without it nothing is deselected.
"""

from __future__ import annotations

import os
import socket
import threading
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
from .log_capture import LogCapture as LogCapture
from .log_capture import server_logs as server_logs  # a fixture: pytest finds it by name
from .quick_tier import (  # the --quick option's hooks: pytest finds them here by name
    pytest_addoption as pytest_addoption,
)
from .quick_tier import (
    pytest_collection_modifyitems as pytest_collection_modifyitems,
)
from .quick_tier import (
    quick,
)

STORES = ("sqlite", "postgresql", "mysql")
POSTGRES_URL = os.environ.get(
    "HUIHUA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_URL = os.environ.get("HUIHUA_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")


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
