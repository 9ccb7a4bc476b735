"""GET /docs in a real browser: Debian's headless chromium, driven by Playwright for Python.

The page lists every endpoint of the document (built from ENDPOINTS), "try it out" on
/add_chat stores a message (ok 0), and the browser never asks anything of any host but the
server: every asset comes from the installed package. With auth on, the page asks for the
service key first and sends it with every call, the description's included. Playwright's
own browser downloads are never used: it drives /usr/bin/chromium.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, Page

from .chromium import WAIT_MS
from .conftest import SERVICE_KEY, secure_settings
from .helpers import MODEL_PATHS, POST_PATHS

pytestmark = pytest.mark.chromium

if TYPE_CHECKING:
    from .conftest import Api
    from .fake_wechat import FakeWeChat


class Visit:
    """A page of the browser, with every request it made and every error it reported."""

    def __init__(self, browser: Browser, api: Api) -> None:
        self.context = browser.new_context()
        self.page: Page = self.context.new_page()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append((r.url, r.headers)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.set_default_timeout(WAIT_MS)
        self.page.goto(api.base_url + "/docs")

    def listed_paths(self) -> set[str]:
        self.page.wait_for_selector(".opblock-summary-path")
        return set(
            self.page.locator(".opblock-summary-path").evaluate_all(
                "nodes => nodes.map(n => n.getAttribute('data-path'))"
            )
        )

    def try_add_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        block = self.page.locator(
            ".opblock", has=self.page.locator(".opblock-summary-path[data-path='/add_chat']")
        )
        block.locator(".opblock-summary").first.click()
        block.locator("button.try-out__btn").click()
        block.locator("textarea.body-param__text").fill(json.dumps(body))
        block.locator("button.execute").click()
        reply = block.locator(".live-responses-table .response-col_description pre").first
        reply.wait_for()
        return json.loads(reply.inner_text())

    def close(self) -> None:
        self.context.close()


def _check(visit: Visit, api: Api, document: dict[str, Any]) -> None:
    listed = visit.listed_paths()
    assert listed == set(document["paths"]), listed ^ set(document["paths"])
    # Without a model configured, the routes of replies from a model are not served.
    assert set(POST_PATHS) - {"/login"} - MODEL_PATHS <= listed
    user_id = api.new_user()
    session_id = f"docs-{uuid.uuid4().hex[:8]}"
    reply = visit.try_add_chat(
        {"user_id": user_id, "session_id": session_id, "role": "user", "msg": "来自文档页"}
    )
    assert reply["ok"] == 0, reply
    assert reply["session_id"] == session_id and reply["seq"] == 1
    stored = api.call("/query_session_info", user_id=user_id, session_id=session_id)
    assert [c["msg"] for c in stored["chats"]] == ["来自文档页"]
    outside = [url for url, _ in visit.requests if not url.startswith(api.base_url + "/")]
    assert outside == []  # no CDN, no validator badge, nothing but this server
    assert visit.errors == []


def test_docs_page_with_auth_off(serve, browser: Browser) -> None:
    api: Api = serve("sqlite")
    document = api.http.get("/openapi.json").json()
    visit = Visit(browser, api)
    try:
        _check(visit, api, document)
    finally:
        visit.close()


def test_docs_page_asks_for_the_service_key_and_sends_it(
    serve, browser: Browser, wechat: FakeWeChat
) -> None:
    api: Api = serve("sqlite", **secure_settings(wechat))
    api.http.headers["authorization"] = f"Bearer {SERVICE_KEY}"
    document = api.http.get("/openapi.json").json()
    visit = Visit(browser, api)
    try:
        page = visit.page
        page.fill("#service-key", "not-the-key")
        page.click("#key-form button")
        page.wait_for_function("document.getElementById('key-error').textContent !== ''")
        assert "credential" in page.inner_text("#key-error").lower()
        visit.errors.clear()  # the refused try is logged by the browser as a 401
        page.fill("#service-key", SERVICE_KEY)
        page.click("#key-form button")
        _check(visit, api, document)
        for url, headers in visit.requests:
            if url.endswith(("/openapi.json", "/add_chat")):
                assert headers.get("authorization", "").startswith("Bearer "), url
        sent = [h["authorization"] for u, h in visit.requests if u.endswith("/add_chat")]
        assert sent == [f"Bearer {SERVICE_KEY}"]
        described = [h.get("authorization") for u, h in visit.requests if "openapi" in u]
        assert described[-1] == f"Bearer {SERVICE_KEY}"
    finally:
        visit.close()
