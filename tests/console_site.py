"""The seeded site and the browser tab (Visit) that test_console_page.py drives the console in."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from .access import sql
from .chromium import WAIT_MS
from .conftest import SERVICE_KEY, secure_settings

if TYPE_CHECKING:
    from .conftest import Api
    from .fake_wechat import FakeWeChat


ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "console"
IMAGE_URL = "https://images.example/cat.png"
ALICE, BOB = "o-console-alice", "o-console-bob"
XSS = "<img src=x onerror=alert(1)>"
WIDTHS = (390, 1280)


def _png(width: int = 8, height: int = 8) -> bytes:
    """Return a small orange PNG, made here (the seeded image's bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xf0\x90\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))


@pytest.fixture(scope="module")
def site(serve: Any, wechat: FakeWeChat) -> Api:
    """A server with auth on, its client sending the service key, and what the console
    shows seeded: a user whose session has every kind of message, a dislike with its
    comment, a user to erase, tokens by model."""
    api = serve("sqlite", **secure_settings(wechat, rate_limit_user=0, rate_limit_address=0))
    api.http.headers["authorization"] = f"Bearer {SERVICE_KEY}"

    def ok(path: str, **fields: Any) -> dict[str, Any]:
        reply = api.call(path, **fields)
        assert reply["ok"] == 0, reply
        return reply

    ok("/add_user", user_id=BOB, user_name="Bob To Erase")
    ok("/add_user", user_id=ALICE, user_name="<b>Zhang</b> Consolewei", city="杭州")
    ok("/add_chat", user_id=BOB, session_id="b1", role="user", msg="hello")
    turn = [
        {"role": "system", "msg": "You are a helpful assistant."},
        {
            "role": "user",
            "msg": "这张图里是什么？",
            "parts": [
                {"type": "image", "url": IMAGE_URL, "name": "cat.png", "mime": "image/png"},
                {"type": "file", "url": "cloud://prod-1a2b/docs/notes.pdf", "name": "notes.pdf"},
            ],
        },
        {
            "role": "ai",
            "msg": "",
            "tool_calls": [{"id": "call-1", "name": "look", "arguments": '{"what": "cat"}'}],
        },
        {"role": "tool", "msg": "an orange cat", "tool_call_id": "call-1", "name": "look"},
        {
            "role": "ai",
            "msg": "一只狗在晒太阳。",
            "reasoning": "The tool says a cat; I will say dog anyway.",
            "meta": {"model": "demo-vl"},
        },
        {"role": "user", "msg": XSS},
        {"role": "ai", "msg": "That is an <img> tag, shown as text.", "status": "failed"},
    ]
    ok("/add_chats", user_id=ALICE, session_id="cat-chat", session_title="看图", chats=turn)
    ok(
        "/rate_chat",
        user_id=ALICE,
        session_id="cat-chat",
        seq=5,
        rating="dislike",
        comment="wrong animal",
    )
    ok("/rate_chat", user_id=ALICE, session_id="cat-chat", seq=7, rating="like")
    ok("/add_chat", user_id=ALICE, session_id="other", role="user", msg="second session")
    ok("/pin_session", user_id=ALICE, session_id="cat-chat", pinned=True)
    today = ok("/usage_stats", days=1)["days"][0]["date"]
    for model, prompt, completion in (("demo-vl", 1200, 340), ("demo-chat", 800, 95)):
        sql(
            api,
            "INSERT INTO ai_usage (user_id, day, model, prompt_tokens, completion_tokens) "
            "VALUES (:u, :d, :m, :p, :c)",
            u=ALICE,
            d=today,
            m=model,
            p=prompt,
            c=completion,
        )
    return api


class Visit:
    """A browser tab on the console: every request, error and dialog it had."""

    def __init__(self, browser: Browser, api: Api, width: int = 1280) -> None:
        self.api = api
        self.context = browser.new_context(
            viewport={"width": width, "height": 900}, accept_downloads=True
        )
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", self._dialog)
        self.page.goto(api.base_url + "/console")

    def _route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(self.api.base_url + "/"):
            route.continue_()
        elif url == IMAGE_URL:  # the seeded image: answered here, never fetched outside
            route.fulfill(status=200, content_type="image/png", body=_png())
        else:
            self.foreign.append(url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def sign_in(self) -> None:
        page = self.page
        expect(page.locator("#sign-in")).to_be_visible()
        page.fill("#key", SERVICE_KEY)
        page.press("#key", "Enter")
        expect(page.locator("#users .row").first).to_be_visible()

    def go(self, hash_route: str) -> None:
        self.page.evaluate("route => { location.hash = route }", hash_route)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        width = self.page.viewport_size["width"]  # type: ignore[index]
        self.page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        # Readable at this width: nothing wider than the window.
        overflow = self.page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, (name, width, overflow)

    def close(self) -> None:
        self.context.close()
        assert self.foreign == [], self.foreign  # nothing asked of any other host
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors


@pytest.fixture
def visit(browser: Browser, site: Api) -> Iterator[Visit]:
    tab = Visit(browser, site)
    yield tab
    tab.close()
