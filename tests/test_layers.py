"""The layout holds (../shared/STYLE.md, "Our layout"): imports go one way, files stay small.

http → service → store; access serves http and reaches stored data only through what it is
handed; wire (the contract) imports no server code, so the Python client can use it alone.
Read from the source with ``ast``, so a new module is checked the day it is added: every
import counts, relative ones resolved, those under ``if TYPE_CHECKING:`` or inside a function
too, and a literal ``importlib.import_module("...")``; a dynamic import is refused outright.
No two modules import each other, directly or round a longer circle. No module of the
package, and no *.py or *.js file of tests/, bench/ or clients/, is past 400 lines but the
ones LONG_FILES names, each with its reason. The checkers take the directory they read, so
test_layers_planted.py runs them on a planted violation of each rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import huihua

PACKAGE = Path(huihua.__file__).parent
ROOT = Path(__file__).resolve().parent.parent  # the repository
MAX_LINES = 400
# The size rule holds for every *.py and *.js file under these too, besides the package.
TREES = ("tests", "bench", "clients")
# Files allowed past MAX_LINES: path → why. Each must still be past it: once split, delete it.
LONG_FILES: dict[str, str] = {
    "clients/miniprogram/huihua.js": "the mini-program SDK: one plain file, copied into an "
    "app as it is, with no build step to join parts",
}

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
    # Not store: http reaches stored data through service (the exceptions are below).
    "http": SHARED | {"config", "logs", "wire", "access", "service", "relay", "wechat"},
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
# Modules allowed an import their part may not make: (module, imported part) → why. Each
# entry must still be needed (test_the_exceptions_still_hold): fix one, then delete it.
EXCEPTIONS: dict[tuple[str, str], str] = {
    # Opens the store at start-up (open_store), closes it, and asks it for /healthz.
    ("http.app", "store"): "the app owns the store's lifetime",
    # Hooks the store's instrument() (group sizes, errors) for /metrics.
    ("http.metrics", "store"): "the store's metrics hooks",
    # The Store a use case is handed, as a field of each request's Context.
    ("http.context", "store"): "the Store type, carried to service",
}
# Circles allowed, each a set of modules: why. Both are type-only (an annotation under
# TYPE_CHECKING), so nothing breaks at import time, but each should go.
CIRCLES: dict[frozenset[str], str] = {
    # rules.py annotates its checks with Settings, which runs those checks.
    frozenset({"config", "config.rules"}): "Settings ↔ its rules, type-only",
    # A ReplyTask is handed its Relay (annotation only); the Relay makes the tasks.
    frozenset({"relay.hub", "relay.task"}): "Relay ↔ ReplyTask, type-only",
}
# Third-party packages only some parts may import.
ONLY_IN = {"sqlalchemy": {"store", "migrations"}, "alembic": {"migrations", "store"}}
# uvicorn: cli runs it; http/protocol.py adds the connection timeouts it lacks.
ONLY_IN |= {"starlette": {"http"}, "uvicorn": {"cli", "http"}}
# The frameworks of the optional extras: only their own histories import them.
ONLY_IN |= {"langchain_core": {"langchain"}, "llama_index": {"llamaindex"}}

DYNAMIC = {"import_module", "__import__"}


def _modules(root: Path) -> dict[str, Path]:
    """Map each module under the package ``root`` to its file: ``http.app``, ``http``
    (a package's ``__init__``), ``__init__`` for the top one."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        if "versions" in path.parts:  # alembic's migration scripts
            continue
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _within(name: str, top: str) -> bool:
    return name == top or name.startswith(f"{top}.")


def _part(module: str) -> str:
    return module.split(".")[0]


def _imports(root: Path, module: str, path: Path) -> tuple[set[str], list[str]]:
    """Return the absolute names ``module`` imports, and its dynamic imports (refused)."""
    top = root.name
    is_package = path.name == "__init__.py"
    here = [top, *module.split(".")] if module != "__init__" else [top]
    package = here if is_package else here[:-1]
    modules = _modules(root)
    names: set[str] = set()
    dynamic: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from pkg import sub` imports the module pkg.sub (not pkg's names).
            inner = origin.removeprefix(f"{top}.") if origin != top else ""
            subs = {
                f"{origin}.{a.name}"
                for a in node.names
                if f"{inner}.{a.name}".strip(".") in modules and _within(origin, top)
            }
            names |= subs
            if len(subs) < len(node.names):
                names.add(origin)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in DYNAMIC:
                dynamic.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    return names, dynamic


def check_layers(
    root: Path,
    allowed: dict[str, set[str]],
    only_in: dict[str, set[str]],
    exceptions: dict[tuple[str, str], str],
) -> tuple[list[str], set[tuple[str, str]]]:
    """Return each import a part may not make, and the exceptions that were used."""
    top = root.name
    problems, used = [], set()
    for module, path in _modules(root).items():
        part = _part(module)
        if part not in allowed:
            problems.append(f"{part}: a new part; say what it may import")
            continue
        for name in sorted(_imports(root, module, path)[0]):
            first, _, rest = name.partition(".")
            if first == top and rest:
                target = rest.split(".")[0]
                if target in (part, "__version__") or target in allowed[part]:
                    continue
                if (module, target) in exceptions:
                    used.add((module, target))
                    continue
                problems.append(f"{module} ({part}) imports {name}")
            elif first in only_in and part not in only_in[first]:
                problems.append(f"{module} ({part}) imports {name}")
    return problems, used


def check_dynamic(root: Path) -> list[str]:
    """Return every importlib.import_module / __import__ call: the layer check cannot
    follow a name computed at run time."""
    return [d for m, p in _modules(root).items() for d in _imports(root, m, p)[1]]


def check_circles(root: Path) -> list[frozenset[str]]:
    """Return each set of two or more modules that import each other round a circle."""
    top = root.name
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in _imports(root, module, path)[0]:
            inner = name.removeprefix(f"{top}.") if name != top else "__init__"
            if _within(name, top) and inner in modules and inner != module:
                targets.add(inner)
        graph[module] = targets
    # Tarjan's strongly connected components, without recursion.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        circles.append(frozenset(component))
    return circles


def check_sizes(root: Path, max_lines: int = MAX_LINES) -> list[str]:
    return [
        f"{path.relative_to(root)}: {n} lines; split it into a package"
        for path in _modules(root).values()
        if (n := len(path.read_text().splitlines())) > max_lines
    ]


def check_file_sizes(
    root: Path, long_files: dict[str, str], max_lines: int = MAX_LINES
) -> tuple[list[str], set[str]]:
    """Return each *.py and *.js file of ``root``'s TREES past ``max_lines`` (its path from
    ``root``) that ``long_files`` does not name, and the long files it names."""
    problems, long = [], set()
    found = {p for t in TREES for x in ("py", "js") for p in (root / t).rglob(f"*.{x}")}
    for path in sorted(p for p in found if "node_modules" not in p.parts):
        name = path.relative_to(root).as_posix()
        if (n := len(path.read_text().splitlines())) <= max_lines:
            continue
        if name in long_files:
            long.add(name)
        else:
            problems.append(f"{name}: {n} lines; split it by theme")
    return problems, long


def test_imports_go_one_way() -> None:
    problems, _ = check_layers(PACKAGE, ALLOWED, ONLY_IN, EXCEPTIONS)
    assert problems == []


def test_the_exceptions_still_hold() -> None:
    _, used = check_layers(PACKAGE, ALLOWED, ONLY_IN, EXCEPTIONS)
    assert set(EXCEPTIONS) - used == set(), "no longer needed: delete them from EXCEPTIONS"


def test_no_dynamic_imports() -> None:
    assert check_dynamic(PACKAGE) == []


def test_no_circles_but_the_listed_ones() -> None:
    assert set(check_circles(PACKAGE)) == set(CIRCLES)


def test_no_module_past_400_lines() -> None:
    assert check_sizes(PACKAGE) == []


def test_no_file_of_tests_bench_or_clients_past_400_lines() -> None:
    assert check_file_sizes(ROOT, LONG_FILES)[0] == []


def test_long_files_are_still_long() -> None:
    long = check_file_sizes(ROOT, LONG_FILES)[1]
    assert set(LONG_FILES) - long == set(), "no longer past 400 lines: delete from LONG_FILES"


def test_the_rule_is_checked_on_a_real_module() -> None:
    # The walk finds what the checks above rely on: a real upward import would be seen.
    path = PACKAGE / "service" / "chats.py"
    assert any(n.startswith("huihua.store") for n in _imports(PACKAGE, "service.chats", path)[0])
    assert any(_part(m) == "wire" for m in _modules(PACKAGE))
