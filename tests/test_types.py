"""mypy, strict as pyproject.toml's [tool.mypy] sets it, finds nothing in src/huihua but the
files listed in NOT_YET (none now; a file that cannot be made clean at once goes there, with
why).

Imports of those files are followed for their types, their own errors not reported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "huihua"
# Not yet strict-clean, each with why; a file leaves this list once mypy passes it.
NOT_YET: set[str] = set()


def _checked() -> list[Path]:
    files = sorted(SRC.rglob("*.py"))  # the migrations' versions/ among them
    return [p for p in files if p.relative_to(SRC).as_posix() not in NOT_YET]


def test_not_yet_names_real_files() -> None:
    assert {p for p in NOT_YET if not (SRC / p).is_file()} == set()


@pytest.mark.slow
def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            *map(str, _checked()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
