"""The tests of test_layers.py: each checker catches a violation planted in a temp tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_layers import (
    MAX_LINES,
    check_circles,
    check_dynamic,
    check_file_sizes,
    check_layers,
    check_sizes,
)

# The tests of the test: a tiny package with one planted violation of each rule.
FAKE = {
    "__init__.py": "",
    "errors.py": "",
    "wire/__init__.py": "from . import fine\n",
    "wire/fine.py": "from ..errors import x\nfrom fake import errors\n",
    "store/__init__.py": "S = 1\n",
    "service/__init__.py": "from fake.store import S\n",
    "http/__init__.py": "",
    "http/app.py": "from fake.service import S\n",
    "http/endpoints.py": "from fake.http.pipeline import Streamed\n",
    "http/pipeline.py": "from typing import TYPE_CHECKING\n"
    "if TYPE_CHECKING:\n    from fake.http.endpoints import Endpoint\n",
}
FAKE_ALLOWED = {
    "__init__": set(),
    "errors": set(),
    "wire": {"errors"},
    "store": set(),
    "service": {"store"},
    "http": {"service", "wire"},
}


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    root = tmp_path / "fake"
    for name, text in FAKE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _plant(root: Path, name: str, text: str) -> None:
    (root / name).write_text(text)


def test_the_fake_package_is_clean_but_for_its_circle(fake: Path) -> None:
    assert check_layers(fake, FAKE_ALLOWED, {}, {}) == ([], set())
    assert check_dynamic(fake) == []
    assert check_sizes(fake) == []
    # http/endpoints.py ↔ http/pipeline.py, the second import type-only: still a circle.
    assert check_circles(fake) == [frozenset({"http.endpoints", "http.pipeline"})]


@pytest.mark.parametrize(
    ("name", "text", "caught"),
    [
        ("wire/up.py", "from ..http.app import S\n", "wire.up (wire) imports fake.http.app"),
        ("wire/up.py", "from ..http import app\n", "wire.up (wire) imports fake.http.app"),
        ("wire/up.py", "from .. import http\n", "wire.up (wire) imports fake.http"),
        ("wire/up.py", "import fake.http.app\n", "wire.up (wire) imports fake.http.app"),
        (
            "wire/up.py",
            "import importlib\napp = importlib.import_module('fake.http.app')\n",
            "wire.up (wire) imports fake.http.app",
        ),
        ("wire/up.py", "def f():\n    from fake.store import S\n", "imports fake.store"),
        ("http/store_user.py", "from fake.store import S\n", "(http) imports fake.store"),
        ("http/store_user.py", "import sqlalchemy\n", "(http) imports sqlalchemy"),
    ],
)
def test_an_upward_import_is_caught(fake: Path, name: str, text: str, caught: str) -> None:
    _plant(fake, name, text)
    problems, _ = check_layers(fake, FAKE_ALLOWED, {"sqlalchemy": {"store"}}, {})
    assert len(problems) == 1 and caught in problems[0], problems


def test_an_exception_allows_one_module_and_is_seen_used(fake: Path) -> None:
    _plant(fake, "http/store_user.py", "from fake.store import S\n")
    _plant(fake, "http/other.py", "from fake.store import S\n")
    exceptions = {("http.store_user", "store"): "why", ("http.gone", "store"): "fixed"}
    problems, used = check_layers(fake, FAKE_ALLOWED, {}, exceptions)
    assert problems == ["http.other (http) imports fake.store"]
    assert used == {("http.store_user", "store")}  # http.gone: stale, the test says so


def test_a_dynamic_import_is_refused(fake: Path) -> None:
    _plant(fake, "http/dyn.py", "from importlib import import_module\nm = import_module(name)\n")
    _plant(fake, "http/dyn2.py", "m = __import__('os')\n")
    assert len(check_dynamic(fake)) == 2


def test_a_longer_circle_and_a_package_circle_are_caught(fake: Path) -> None:
    _plant(fake, "http/endpoints.py", "")  # the planted two-module circle gone
    assert check_circles(fake) == []
    _plant(fake, "service/a.py", "from fake.service import b\n")
    _plant(fake, "service/b.py", "from . import c\n")
    _plant(fake, "service/c.py", "def f():\n    from .a import x\n")
    _plant(fake, "store/x.py", "from fake.store import S\n")  # the package's own names
    _plant(fake, "store/__init__.py", "from fake.store.x import y\n")
    circles = set(check_circles(fake))
    assert circles == {
        frozenset({"service.a", "service.b", "service.c"}),
        frozenset({"store", "store.x"}),
    }


def test_a_long_module_is_caught(fake: Path) -> None:
    _plant(fake, "service/long.py", "x = 1\n" * (MAX_LINES + 1))
    assert check_sizes(fake) == [f"service/long.py: {MAX_LINES + 1} lines; split it into a package"]


def test_a_long_file_of_tests_or_bench_is_caught(tmp_path: Path) -> None:
    planted = {"tests/short.py": MAX_LINES, "tests/sub/long.py": MAX_LINES + 1}
    planted |= {"bench/long.py": 500, "clients/app/long.js": 500, "clients/app/sdk.js": 900}
    planted |= {"bench/notes.md": 900, "clients/node_modules/dep.js": 900, "src/long.py": 900}
    for name, lines in planted.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n" * lines)
    allowed = {"clients/app/sdk.js": "why", "bench/gone.py": "split since"}
    problems, long = check_file_sizes(tmp_path, allowed)
    assert problems == [
        "bench/long.py: 500 lines; split it by theme",
        "clients/app/long.js: 500 lines; split it by theme",
        f"tests/sub/long.py: {MAX_LINES + 1} lines; split it by theme",
    ]
    assert long == {"clients/app/sdk.js"}  # bench/gone.py: stale, the test says so
