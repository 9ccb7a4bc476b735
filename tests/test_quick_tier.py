"""The quick tier, ``python3 -m pytest --quick`` (tests/quick_tier.py): it keeps only the tests
that need no server and no outside program, each store-parametrized test on SQLite alone;
without the option nothing is left out.

Checked on a few files collected in a process of their own (a second or two), whichever tier
this run is, and on this run's own tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .quick_tier import QUICK_LEAVES_OUT, SERVER_STORES, quick

ROOT = Path(__file__).resolve().parent.parent
# A test of each way one comes to need a server or a program: the store_kind fixture
# (test_chats), a module fixture's own store list (test_console_plans), a marker on the
# test (test_cli) and on the module (test_console_page).
SAMPLE = ["test_chats.py", "test_console_plans.py", "test_cli.py", "test_console_page.py"]


def _collect(*options: str) -> tuple[list[str], str]:
    """The ids pytest collects from SAMPLE with these options, and its summary line."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*command, "-p", "pytest_timeout", *options, *(f"tests/{name}" for name in SAMPLE)],
        cwd=ROOT,
        # a second, not four: the plugins the sample does not need are not loaded
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    return [line for line in lines if "::" in line], next(
        line for line in reversed(lines) if "collected" in line
    )


def _on_a_server_store(test_id: str) -> bool:
    params = re.search(r"\[(.*)\]$", test_id)
    return bool(params) and bool(set(params.group(1).split("-")) & set(SERVER_STORES))


def test_quick_keeps_the_sqlite_runs_and_nothing_that_needs_a_server_or_a_program() -> None:
    everything, summary = _collect()
    assert "deselected" not in summary, summary
    kept, summary = _collect("--quick")
    left_out = set(everything) - set(kept)
    assert set(kept) <= set(everything)
    assert f"({len(left_out)} deselected)" in summary, summary
    assert not [test_id for test_id in kept if _on_a_server_store(test_id)]
    assert not [test_id for test_id in kept if "test_console_page.py" in test_id]
    for name in SAMPLE[:3]:  # each keeps its SQLite runs
        assert any(f"tests/{name}::" in test_id for test_id in kept), name
    assert any(test_id.endswith("[sqlite]") for test_id in kept)
    # what is left out: the runs on the server stores and the tests marked
    assert {t for t in everything if _on_a_server_store(t)} <= left_out
    assert "tests/test_cli.py::test_migrate_then_serve_with_two_workers_on_mariadb" in left_out
    assert any("test_console_page.py" in test_id for test_id in left_out)


def test_this_run_is_its_tier(request: pytest.FixtureRequest) -> None:
    """Under --quick none of this run's tests has a marker the tier leaves out, nor a store
    parameter but SQLite; without it, every run on a server store has its store's marker."""
    for item in request.session.items:
        params = getattr(item, "callspec", None)
        values = params.params.values() if params else ()
        stores = {v for v in values if isinstance(v, str)} & set(SERVER_STORES)
        if quick(request.config):
            assert not stores, item.nodeid
            assert not [m for m in QUICK_LEAVES_OUT if item.get_closest_marker(m)], item.nodeid
        else:
            assert all(item.get_closest_marker(store) for store in stores), item.nodeid


def test_every_marker_the_quick_tier_leaves_out_is_declared() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    declared = {line.split(":")[0] for line in options["ini_options"]["markers"]}
    assert set(QUICK_LEAVES_OUT) <= declared
