"""The wheel that ``pip wheel .`` builds carries every file of the package (the migrations,
their template, the docs page's assets), and ``huihua migrate`` works from it installed.

The source is copied first, so the build leaves nothing in the work tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "huihua"


def _package_files() -> set[str]:
    return {
        "huihua/" + p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_wheel_carries_the_migrations_and_every_package_file(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", "dist"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("huihua-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = sorted(n for n in names if n.startswith("huihua/migrations/versions/0"))
    print("migrations in", wheel.name, *migrations, sep="\n  ")
    assert "huihua/migrations/script.py.mako" in names
    assert "huihua/migrations/env.py" in names
    assert len(migrations) == len(list((PACKAGE / "migrations" / "versions").glob("0*.py")))
    assert _package_files() - names == set()

    # installed alone (no work tree on the path), it makes a store's schema
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIHUA_")}
    env["PYTHONPATH"] = str(site)
    url = f"sqlite:///{tmp_path / 'from-wheel.db'}"
    migrate = subprocess.run(
        [
            sys.executable,
            "-c",
            "import huihua, sys; print(huihua.__file__); sys.exit("
            "__import__('huihua.cli').cli.main(['migrate', '--database-url', sys.argv[1]]))",
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert migrate.stdout.startswith(str(site)), migrate.stdout
