"""The client's endpoint methods as mypy and editors see them (client/methods_sync.py and
client/methods_async.py) are made from the client's endpoint table and the wire requests,
and are current. Write them again with ``python3 -m tests.test_client_methods``.

Each method takes the request's fields as keyword parameters: those the request requires
without a default (but ``user_id``, which a user token fills in), the rest with None, and
``request_id``; it returns the reply struct. Each parameter has its field's type as a
client writes it (:func:`_client_type`): a nested request struct (an attachment, a tool
call, a message of a turn) as the plain dict a client passes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import msgspec

from huihua.client.asking import Asking
from huihua.client.endpoints import ENDPOINTS
from huihua.wire import replies
from huihua.wire import requests as rq

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "src" / "huihua" / "client"
WRITTEN_OUT = {"healthz", "sessions", "messages"}  # clients.py's own methods


def _request(name: str) -> type[rq.Request]:
    found: type[rq.Request] = getattr(rq, "".join(w.title() for w in name.split("_")) + "Request")
    return found


def _client_type(tp: Any) -> str:
    """A request field's type as a client writes it: a struct as a plain dict, UNSET (a
    field left out) gone, the rest as declared."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return "dict[str, Any]"
    if origin in (typing.Union, types.UnionType):
        kept = [_client_type(a) for a in args if a is not msgspec.UnsetType]
        return " | ".join(dict.fromkeys(kept))
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is list:
        return f"list[{_client_type(args[0])}]"
    if origin is dict:
        return f"dict[{_client_type(args[0])}, {_client_type(args[1])}]"
    if tp is Any:
        return "Any"
    if tp is type(None):
        return "None"
    return str(tp.__name__)


def _method(name: str, fields: tuple[str, ...] | None, reply: str, is_async: bool) -> str:
    request = _request(name)
    required = {f.name for f in msgspec.structs.fields(request) if f.required}
    hints = typing.get_type_hints(request)
    params = ["self", "*"]
    for field in fields or ():
        if field == "user_id":
            params.append("user_id: str | None = None")
        elif field in required:
            params.append(f"{field}: {_client_type(hints[field])}")
        else:
            written = _client_type(hints[field])
            optional = written if written.endswith("| None") else f"{written} | None"
            params.append(f"{field}: {optional} = None")
    params.append("request_id: str | None = None")
    if fields is None:
        params.append("**fields: Any")
    returns = f"replies.{reply}" if hasattr(replies, reply) else "dict[str, Any]"
    word = "async def" if is_async else "def"
    doc = f"POST /{name}: its reply, or the HuihuaError of its ok code."
    body = "        raise NotImplementedError  # never runs: the class is seen by mypy only\n"
    return f'    {word} {name}({", ".join(params)}) -> {returns}:\n        """{doc}"""\n' + body


def render(is_async: bool) -> str:
    kind, cls = ("AsyncClient", "AsyncMethods") if is_async else ("Client", "SyncMethods")
    head = (
        f'"""The endpoint methods of {kind} as mypy and editors see them (made by\n'
        "tests/test_client_methods.py from endpoints.py and the wire requests: do not edit).\n\n"
        f"clients.py attaches the real ones at run time; {kind} derives from {cls} only\n"
        'under TYPE_CHECKING."""\n\n'
        "from __future__ import annotations\n\nfrom typing import Any, Literal\n\n"
        "from huihua.wire import replies\n\n\n"
        f"class {cls}:\n"
    )
    body = "\n".join(
        _method(e.name, e.fields, e.reply_name, is_async)
        for e in ENDPOINTS
        if e.name not in WRITTEN_OUT and not hasattr(Asking, e.name)
    )
    return head + body


def _formatted(text: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", "methods.py", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


FILES = {"methods_sync.py": False, "methods_async.py": True}


def test_the_methods_are_current() -> None:
    for name, is_async in FILES.items():
        assert (CLIENT / name).read_text() == _formatted(render(is_async)), (
            f"client/{name} is stale: python3 -m tests.test_client_methods"
        )


def test_every_endpoint_has_a_method_with_its_fields() -> None:
    text = (CLIENT / "methods_sync.py").read_text()
    for endpoint in ENDPOINTS:
        if endpoint.name in WRITTEN_OUT or hasattr(Asking, endpoint.name):
            continue
        found = re.search(rf"def {endpoint.name}\((.*?)\) ->", text, re.DOTALL)
        assert found is not None, endpoint.name
        for field in endpoint.fields or ("**fields",):
            assert f"{field}:" in found.group(1), (endpoint.name, field)


if __name__ == "__main__":
    for name, is_async in FILES.items():
        (CLIENT / name).write_text(_formatted(render(is_async)))
