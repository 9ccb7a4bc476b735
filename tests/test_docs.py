"""The docs stay true: every setting documented, every README example answering ok 0."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from huihua.cli import main
from huihua.config import Settings

from .conftest import model_settings
from .fake_script import Reply, chinese_pieces
from .helpers import POST_PATHS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CONFIG_DOC = (ROOT / "docs" / "configuration.md").read_text()


def _documented_settings() -> dict[str, list[str]]:
    rows = {}
    for line in CONFIG_DOC.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("setting", "---"):
            rows[cells[0]] = cells
    return rows


def test_every_setting_is_documented_with_its_default_and_variable():
    rows = _documented_settings()
    names = [f.name for f in dataclasses.fields(Settings)]
    assert sorted(rows) == sorted(names)
    for f in dataclasses.fields(Settings):
        _, variable, _, default, help_text = rows[f.name]
        assert variable == f"`HUIHUA_{f.name.upper()}`"
        assert default == f"`{f.default}`", f.name
        assert help_text


def test_every_documented_option_exists_in_the_cli():
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    for _, _, option, _, _ in _documented_settings().values():
        if option:
            assert option.strip("`") in help_text


def test_settings_come_from_the_environment():
    settings = Settings.from_env({"HUIHUA_PORT": "9001", "HUIHUA_SQLITE_SYNCHRONOUS": "NORMAL"})
    assert settings.port == 9001
    assert settings.sqlite_synchronous == "NORMAL"
    assert Settings.from_env({"HUIHUA_PORT": "9001"}, port=9002).port == 9002


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [line for block in blocks for line in block.splitlines()]


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    section = README.split("## Quick start")[1].split("\n## ")[0]
    blocks = [b.strip() for b in re.findall(r"```sh\n(.*?)```", section, re.S)]
    install_and_serve = blocks[0]
    run_tests = next(b for b in blocks if "python3 -m pytest" in b)
    assert install_and_serve == "pip install -c requirements.lock . && huihua serve"
    assert "pip install -c requirements.lock -e '.[test]' && python3 -m pytest" in run_tests
    assert run_tests in (ROOT / ".ci" / "run").read_text()


def test_the_lock_pins_every_dependency_pyproject_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["test"], *extras["mysql"]]
    lock = (ROOT / "requirements.lock").read_text()
    pinned = set()
    for line in lock.splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            pinned.add(_normal(name))
    for requirement in wanted:
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group()  # type: ignore[union-attr]
        assert _normal(name) in pinned, f"{name} is not in requirements.lock: regenerate it"
    assert "uv pip compile pyproject.toml" in lock  # the command that makes it, in its header


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _events(reply: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """Return the (event, data) of an event stream's body."""
    found = []
    for block in reply.text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


def test_readme_examples_answer_as_the_contract_says(serve, model):
    # The model answers slowly enough that the README's /stop_reply finds its reply going.
    model.reset()
    model.default = Reply(content=chinese_pieces(12), delay_s=0.15)
    api = serve("sqlite", **model_settings(model))
    curls = [c for c in _readme_commands() if c.startswith("curl ")]
    assert len(curls) >= 10
    seen = set()
    for command in curls:
        args = shlex.split(command)
        url = next(a for a in args if a.startswith("http://127.0.0.1:8000/"))
        path = url.removeprefix("http://127.0.0.1:8000")
        seen.add(path)
        if "-d" in args:
            body = json.loads(args[args.index("-d") + 1])
            reply = api.post(path, body)
        else:
            reply = api.http.get(path)
        assert reply.status_code == 200, (command, reply.text)
        if reply.headers["content-type"].startswith("text/event-stream"):
            events = _events(reply)  # an ask's stream, or a follow's from after its start
            if not body.get("after"):
                assert events[0][0] == "start" and events[0][1]["ok"] == 0, (command, reply.text)
                assert events[0][1]["request_id"] == body["request_id"]
            assert events[-1][0] == "done" and events[-1][1]["status"] == "complete", command
        elif path != "/openapi.json":
            assert reply.json()["ok"] == 0, (command, reply.text)
            if "request_id" in (body if "-d" in args else {}):
                assert reply.json()["request_id"] == body["request_id"]
    # Every endpoint of the table has a README example that runs; /login's needs WeChat,
    # so the README shows it in "Running in production" (test_login_is_in_the_readme).
    assert {*POST_PATHS, "/healthz", "/openapi.json"} - {"/login"} <= seen


def test_login_is_in_the_readme():
    assert "curl -s https://chat.example.com/login -d" in README
