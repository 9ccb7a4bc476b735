"""``--quick`` (``python3 -m pytest --quick``): the tier that needs only Python and SQLite.

It deselects every test marked as needing a server or an outside program, or as too slow
for the tier (QUICK_LEAVES_OUT, the markers of pyproject.toml). A test parametrized on a
server store ("postgresql", "mysql" as a parameter's value: ``store_kind`` and the tests'
own ``kind`` lists) is given that store's marker here, so only the SQLite runs stay.
Without ``--quick`` nothing is deselected. conftest.py imports these hooks.
"""

from __future__ import annotations

import pytest

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
