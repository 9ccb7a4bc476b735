"""docs/api.md is the API's reference, and stays complete: every route of the OpenAPI
document (whatever the endpoint table holds), every ok code of errors.py and every setting
has its place there, and each route an example whose body the route takes. The README, the
docs and the /docs page point at it, and no document links outside the repository.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from huihua import errors
from huihua.config import Settings
from huihua.http import docs as docs_page
from huihua.http.endpoints import ENDPOINTS
from huihua.http.openapi import build_openapi
from huihua.wire.parse import parse_body

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "api.md"
TEXT = REFERENCE.read_text(encoding="utf-8")
BASE = "http://127.0.0.1:8000"
# GET routes the app serves besides those the document describes (it describes itself and
# /healthz): the docs page and the metrics, which answer in their own formats.
OTHER_GET_ROUTES = ("/docs", "/metrics")
# What users read: the README, every page of docs/, and the READMEs beside the code.
DOCUMENTS = sorted(
    path
    for path in ROOT.rglob("*.md")
    if not any(
        part.startswith(".") or part in ("node_modules", "build")
        for part in path.relative_to(ROOT).parts
    )
)
# The example of an unknown path (ok 2), in the section on errors.
NOT_A_ROUTE = "/nowhere"


def _routes() -> list[tuple[str, str]]:
    """Return (method, path) of every route: the OpenAPI document's, with every endpoint of
    the table in it (those served only with a model or WeChat too), and the other GETs."""
    document = build_openapi(ENDPOINTS, auth=True)
    found = [(m.upper(), p) for p, item in document["paths"].items() for m in item]
    return found + [("GET", path) for path in OTHER_GET_ROUTES]


ROUTES = _routes()


def _headings(text: str) -> list[str]:
    return re.findall(r"^#{1,6} +(.+?) *$", _outside_code(text), re.M)


def _outside_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _examples() -> list[tuple[str, dict[str, Any] | None]]:
    """Return the curl commands of the reference's ```sh blocks, each with the reply the
    line after it shows (``# {...}``), when that is whole JSON."""
    blocks = re.findall(r"^```sh\n(.*?)^```", TEXT, re.M | re.S)
    found = []
    for block in blocks:
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("curl "):
                after = lines[i + 1].removeprefix("# ") if i + 1 < len(lines) else ""
                found.append((line, _json_or_none(after.rsplit("} ", 1)[0].rstrip("}") + "}")))
    return found


def _json_or_none(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _target(command: str) -> tuple[str, str | None]:
    """Return the path a curl command calls and its -d body (None: a GET)."""
    args = shlex.split(command.split(" | ")[0])
    url = next(a for a in args if a.startswith(BASE + "/"))
    body = args[args.index("-d") + 1] if "-d" in args else None
    return url.removeprefix(BASE), body


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[p for _, p in ROUTES])
def test_every_route_has_a_section_and_an_example(method: str, path: str) -> None:
    wanted = f"`{path}`" if method == "POST" else f"`{method} {path}`"
    assert any(wanted in h for h in _headings(TEXT)), f"docs/api.md: no heading for {wanted}"
    calls = [_target(c) for c, _ in _examples()]
    with_body = [body for called, body in calls if called == path and body is not None]
    without = [body for called, body in calls if called == path and body is None]
    assert with_body if method == "POST" else without, f"docs/api.md: no example of {path}"


def test_every_example_body_is_a_request_its_route_takes() -> None:
    # An example that shows ok 1 must be refused with the reason it shows; every other
    # must be a request its route takes.
    endpoints = {e.path: e for e in ENDPOINTS}
    checked = refused = 0
    for command, reply in _examples():
        path, body = _target(command)
        if body is None or path == NOT_A_ROUTE:
            continue
        assert path in endpoints, f"docs/api.md: {path} is not a route: {command}"
        endpoint = endpoints[path]
        if "Authorization: Bearer eyJ" in command and "user_id" not in json.loads(body):
            # a user token's call: the server fills user_id in from the token
            body = json.dumps({**json.loads(body), "user_id": "the token's user"})
        parsed = parse_body(body.encode(), endpoint.request if endpoint.strict else None)
        if reply is not None and reply["ok"] == errors.InvalidRequest.ok:
            with pytest.raises(errors.InvalidRequest) as refusal:
                parsed.fields()
            assert refusal.value.failed == reply["failed"], command
            refused += 1
            continue
        parsed.fields()  # raises the field error (ok 1) of a body the route refuses
        if "request_id" in json.loads(body):
            assert parsed.request_id == json.loads(body)["request_id"], command
        checked += 1
    assert checked >= len(ENDPOINTS) and refused >= 1


def _error_classes() -> list[type[errors.HuihuaError]]:
    found, todo = [], [errors.HuihuaError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return [c for c in found if c.__module__ == errors.__name__]


def test_the_ok_table_holds_every_code_of_errors_py_with_its_status() -> None:
    table = dict(re.findall(r"^\| (\d+) \| (\d{3}) \|", TEXT, re.M))
    codes = {str(c.ok): str(c.status) for c in _error_classes()}
    assert len(codes) >= 11
    assert table == {"0": "200", **codes}, "docs/api.md: the ok table differs from errors.py"


def test_every_setting_is_named() -> None:
    for field in dataclasses.fields(Settings):
        variable = f"HUIHUA_{field.name.upper()}"
        assert re.search(rf"`{variable}`", TEXT), f"docs/api.md does not name {variable}"


def _slug(heading: str) -> str:
    """Return the anchor a Markdown renderer (GitHub's) gives a heading."""
    text = heading.strip().lower().replace("`", "")
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _headings(path.read_text(encoding="utf-8")):
        slug = _slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_documents_link_inside_the_repository_and_name_no_outside_contract(
    document: Path,
) -> None:
    text = document.read_text(encoding="utf-8")
    where = document.relative_to(ROOT)
    assert "API.md" not in text, f"{where}: names API.md; link docs/api.md instead"
    assert "shared/" not in text and "seed-api" not in text, f"{where}: points outside"
    for target in re.findall(r"\]\(([^)\s]+)\)", _outside_code(text)):
        assert not re.match(r"[a-z]+:|//", target), f"{where}: links outside: {target}"
        file, _, anchor = target.partition("#")
        linked = (document.parent / file).resolve() if file else document
        assert linked.is_relative_to(ROOT) and linked.exists(), f"{where}: no file {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{where}: no heading for {target}"


def test_the_readme_and_the_docs_page_point_at_the_reference() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/api.md)" in readme
    document = build_openapi(ENDPOINTS, auth=True)
    served = json.dumps(document, ensure_ascii=False)
    assert "docs/api.md" in document["info"]["description"]
    assert "API.md" not in served
    for name in ("docs.html", "huihua-docs.js", "huihua-docs.css"):
        assert "API.md" not in (docs_page.STATIC / name).read_text(encoding="utf-8"), name
