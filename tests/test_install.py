"""The README's install commands work as written, from a checkout, in a fresh virtual
environment: huihua is not on the package index, so each installs the checkout (with the
pins of requirements.lock), and `huihua --help` runs afterwards.

One virtual environment, every command in turn, in a copy of the checkout (pip builds in
the source folder); each bounded in time. The packages come from the index as configured
for pip on this machine (its cache makes a second run quick).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LEFT_OUT = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".venv", "*.db*", "bench"
)


def readme_installs() -> list[str]:
    """Return every `pip install` of the checkout in the README's ```sh blocks, as written
    (the part of a line between `&&`s; comments dropped)."""
    found = []
    for block in re.findall(r"^```sh\n(.*?)^```", README, re.M | re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:2] == ["pip", "install"] and "requirements.lock" in words:
                    found.append(shlex.join(words))
    return found


def test_the_readme_installs_only_from_the_checkout() -> None:
    installs = readme_installs()
    assert "pip install -c requirements.lock ." in installs
    for extra in ("langchain", "llamaindex", "mysql", "test"):
        assert any(f".[{extra}]" in command for command in installs), extra
    # the SDK's own tests, as the suite runs them (tests/test_miniprogram_sdk_node.py)
    assert "\nnode --test clients/miniprogram/test/*.test.js\n" in README
    assert list((ROOT / "clients" / "miniprogram" / "test").glob("*.test.js"))
    # huihua is not on the package index: never `pip install huihua…` by name
    for arguments in re.findall(r"pip install ([^`\n#&]*)", README):
        for word in shlex.split(arguments):
            assert not re.match(r"huihua\b", word), f"README: pip install {arguments}"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_readme_install_commands_work_in_a_fresh_venv(tmp_path: Path) -> None:
    checkout = tmp_path / "huihua"
    shutil.copytree(ROOT, checkout, ignore=LEFT_OUT)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = str(venv / "bin" / "pip")
    for command in readme_installs():
        words = shlex.split(command)
        run = subprocess.run(
            [pip, *words[1:], "--disable-pip-version-check", "--quiet"],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, f"{command}\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    help_text = subprocess.run(
        [str(venv / "bin" / "huihua"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0, help_text.stderr
    for command in ("serve", "migrate", "export", "import", "backup", "purge", "stats"):
        assert re.search(rf"^  {command}\b", help_text.stdout, re.M), help_text.stdout
    imports = "import huihua.langchain, huihua.llamaindex, MySQLdb, huihua.client"
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", imports], capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr
