"""The mini-program SDK's own tests (clients/miniprogram/test/), under node's test runner.

They start their own `huihua serve` (auth on, a temporary SQLite file, a free port) and a
fake WeChat on loopback; this runs them with this interpreter and path, so that
`python3 -m pytest` (the README's test command, which .ci/run calls) runs them too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from huihua.client import ENDPOINTS

ROOT = Path(__file__).resolve().parent.parent
SDK_TESTS = ROOT / "clients" / "miniprogram" / "test"


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
    sdk = ROOT / "clients" / "miniprogram" / "huihua.js"
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
