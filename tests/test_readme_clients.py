"""The README's back-end example (section "Clients") works as written: run against a real
server with auth on, it prints the turn it wrote, newest first. (The mini-program example
is replayed by the SDK's node tests, clients/miniprogram/test/readme.test.js.)"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import SERVICE_KEY, model_settings, secure_settings
from .fake_model import FakeModel
from .fake_script import Reply
from .fake_wechat import FakeWeChat

README = Path(__file__).resolve().parent.parent / "README.md"


def _example(language: str, index: int = 0) -> str:
    clients = README.read_text().split("\n## Clients\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", clients, re.DOTALL)[index]


def test_the_back_end_example_runs_as_written(
    serve: Any, wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _example("python")
    assert len(code.splitlines()) <= 10
    api = serve("sqlite", **secure_settings(wechat))
    monkeypatch.setenv("HUIHUA_SERVICE_KEY", SERVICE_KEY)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code.replace("http://127.0.0.1:8000", api.base_url), {})
    assert out.getvalue().splitlines() == ["2 ai 有一天，小明去面试……", "1 user 帮我讲个笑话"]


def test_the_reply_example_runs_as_written(
    serve: Any, wechat: FakeWeChat, model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _example("python", 1)
    assert len(code.splitlines()) <= 10
    api = serve("sqlite", **secure_settings(wechat, **model_settings(model)))
    monkeypatch.setenv("HUIHUA_SERVICE_KEY", SERVICE_KEY)
    key = {"authorization": f"Bearer {SERVICE_KEY}"}
    made = api.post("/add_user", {"user_id": "o6_bmjrPTlm6", "user_name": "t"}, headers=key)
    assert made.json()["ok"] == 0, made.text
    model.script(Reply(content=["秋风", "起，", "落叶黄。"]))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec("import os\n" + code.replace("http://127.0.0.1:8000", api.base_url), {})
    assert out.getvalue() == "秋风起，落叶黄。complete\n"
