"""The layout holds (../shared/STYLE.md, "Our layout"): imports go one way, files stay small.

http → service → store; access serves http and reaches stored data only through what it is
handed; wire (the contract) imports no server code, so the Python client can use it alone.
Read from the source with ``ast``, so a new module is checked the day it is added.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import huihua

PACKAGE = Path(huihua.__file__).parent
MAX_LINES = 400

# What each part of huihua may import of huihua; a part is a subpackage or a top module.
SHARED = {"errors", "ids", "timestamps"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "ids": set(),
    "timestamps": set(),
    "config": set(),
    "logs": set(),
    "wire": {"errors", "ids"},
    "migrations": {"store"},
    "store": SHARED | {"config", "migrations", "logs"},
    # Replies huihua asks a model for: the task writes through the store like a use case.
    "relay": SHARED | {"config", "store", "wire", "wechat"},
    "service": SHARED | {"store", "wire", "relay", "wechat"},
    "access": SHARED | {"config", "wire"},
    "http": SHARED | {"config", "logs", "wire", "access", "service", "store", "relay", "wechat"},
    # WeChat's server API (the access token, the content check, the subscription message).
    "wechat": SHARED | {"config"},
    "cli": SHARED | {"config", "logs", "http", "store", "commands"},
    "commands": SHARED | {"config", "logs", "store", "service"},
    # The Python client runs in the app's back end: the contract and the error tree only.
    "client": {"errors", "wire"},
    # The LangChain and LlamaIndex histories, over the client.
    "langchain": {"client", "errors", "wire"},
    "llamaindex": {"client", "errors", "wire"},
    "__init__": set(),
    "__main__": {"cli"},
}
# Third-party packages only some parts may import.
ONLY_IN = {"sqlalchemy": {"store", "migrations"}, "alembic": {"migrations", "store"}}
# uvicorn: cli runs it; http/protocol.py adds the connection timeouts it lacks.
ONLY_IN |= {"starlette": {"http"}, "uvicorn": {"cli", "http"}}
# The frameworks of the optional extras: only their own histories import them.
ONLY_IN |= {"langchain_core": {"langchain"}, "llama_index": {"llamaindex"}}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "versions" not in p.parts)


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "huihua":
                names |= {f"huihua.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_one_way(path: Path) -> None:
    part = _part(path)
    assert part in ALLOWED, f"{part}: a new part of huihua; say what it may import"
    for name in _imports(path):
        top, _, rest = name.partition(".")
        if top == "huihua" and rest:
            target = rest.split(".")[0]
            if target != part and target != "__version__":
                assert target in ALLOWED[part], f"{part} imports {name}"
        elif top in ONLY_IN:
            assert part in ONLY_IN[top], f"{part} imports {name}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_past_400_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name}: {lines} lines; split it into a package"


def test_the_rule_is_checked_on_a_real_module() -> None:
    # The walk finds what the checks above rely on: a real upward import would be seen.
    assert "huihua.store" in _imports(PACKAGE / "service" / "chats.py")
    assert any(_part(p) == "wire" for p in _modules())
