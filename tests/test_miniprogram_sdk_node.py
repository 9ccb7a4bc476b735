"""The mini-program SDK's own tests (clients/miniprogram/test/), under node's test runner.

They start their own `huihua serve` (auth on, a temporary SQLite file, a free port; or the
quick start's), a fake WeChat and the fake model (tests/fake_model.py) on loopback; this
runs them with this interpreter and path, so that `python3 -m pytest` (the README's test
command, which .ci/run calls) runs them too. It also checks huihua.d.ts: `tsc --noEmit` on
an example page (TypeScript and WeChat's typings installed from npm, once, into a cache
directory), and a declaration for every method the SDK's client has.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from huihua.client import ENDPOINTS

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "clients" / "miniprogram"
SDK_TESTS = SDK / "test"
# What checks huihua.d.ts, at versions pinned here (npm's newest TypeScript is a native build).
TYPESCRIPT = ("typescript@5.9.3", "miniprogram-api-typings@5.2.3")


def test_the_sdk_passes_its_node_tests_against_a_real_server() -> None:
    node = shutil.which("node")
    assert node, "node is needed for the mini-program SDK's tests"
    env = {**os.environ, "HUIHUA_PYTHON": sys.executable}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p
    )
    files = sorted(str(p) for p in SDK_TESTS.glob("*.test.js"))
    assert files, f"no *.test.js under {SDK_TESTS}"
    run = subprocess.run(
        [node, "--test", "--test-reporter=spec", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "ℹ fail 0" in run.stdout, run.stdout[-5000:]


def test_the_sdk_has_a_method_per_endpoint_of_the_python_client() -> None:
    node = shutil.which("node")
    assert node
    sdk = SDK / "huihua.js"
    printed = subprocess.run(
        [node, "-e", f"console.log(JSON.stringify(require({str(sdk)!r}).ENDPOINTS))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    camel = {re.sub(r"_([a-z])", lambda m: m[1].upper(), e.name): e.path for e in ENDPOINTS}
    del camel["login"]  # the SDK's login() wraps wx.login around it
    for operator in ("listUsers", "listFeedback", "usageStats"):  # service key only (§9)
        del camel[operator]
    assert json.loads(printed) == camel


def _typescript() -> Path:
    """Return a node_modules holding TYPESCRIPT, installed from npm into the user's cache
    directory the first time (a directory per set of versions; made aside, then renamed)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huihua-tests"
    home = cache / "-".join(p.replace("@", "-") for p in TYPESCRIPT)
    if not (home / "node_modules" / "typescript" / "bin" / "tsc").exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install TypeScript for the check of huihua.d.ts"
        aside = cache / f"{home.name}.{os.getpid()}"
        shutil.rmtree(aside, ignore_errors=True)
        aside.mkdir(parents=True)
        install = [npm, "install", "--prefix", str(aside), "--no-audit", "--no-fund", *TYPESCRIPT]
        run = subprocess.run(install, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        try:
            aside.rename(home)
        except OSError:  # another run got there first
            shutil.rmtree(aside, ignore_errors=True)
    return home / "node_modules"


def test_the_sdk_types_check_an_example_page_with_tsc() -> None:
    node = shutil.which("node")
    assert node
    modules = _typescript()
    tsc = modules / "typescript" / "bin" / "tsc"
    config = SDK_TESTS / "types" / "tsconfig.json"
    run = subprocess.run(
        [node, str(tsc), "--noEmit", "-p", str(config), "--typeRoots", str(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    # The page's @ts-expect-error lines hold: tsc failed on none of them.
    page = (SDK_TESTS / "types" / "chat.ts").read_text()
    assert page.count("@ts-expect-error") >= 5


def test_huihua_d_ts_declares_every_method_of_the_client() -> None:
    node = shutil.which("node")
    assert node
    script = (
        f"const h = require({str(SDK / 'huihua.js')!r});"
        "console.log(JSON.stringify(Object.keys(h.createClient({baseUrl: 'http://x', wx: {}}))))"
    )
    printed = subprocess.run(
        [node, "-e", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    declared = (SDK / "huihua.d.ts").read_text().split("export interface Client {")[1]
    declared = declared.split("\n}\n")[0]
    names = set(re.findall(r"^  (\w+)\(", declared, re.M))
    assert names == set(json.loads(printed))
