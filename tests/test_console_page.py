"""GET /console in a real browser: Debian's headless chromium driven by Playwright for
Python (its own browser downloads are never used), against a server with auth on.

What an operator does there, each checked as they would see it: sign in (a wrong key, then
the right one, kept in sessionStorage only), find a user by name, read a session as a chat
(reasoning folded, the image shown, system and tool messages set apart), a message of HTML
shown as text with no dialog, a dislike in Feedback leading to its message, the Usage
figures equal to /usage_stats, an export that downloads a document that parses, an erase
that removes the user, all by keyboard where it says. Every visit checks that the page
asked nothing of any host but the server (the seeded image's https: address is answered by
the test itself: it never leaves the machine), and that no console error, page error or
dialog happened. Screenshots of each view at 390 and 1280 px wide are saved under
``artifacts/console/`` (gitignored; CI keeps the folder).
"""

from __future__ import annotations

import json
import re
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

pytestmark = pytest.mark.chromium

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


def test_the_page_is_static_with_a_strict_policy(site: Api) -> None:
    response = site.http.get("/console", headers={"authorization": ""})
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    html = response.text
    assert 'data-auth="on"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert not re.search(r"\son\w+=|\sstyle=", html)  # no inline handler or style
    for name in ("console.js", "console.css", "favicon.svg"):
        asset = site.http.get(f"/console/{name}", headers={"authorization": ""})
        assert asset.status_code == 200 and asset.headers["content-security-policy"] == policy
        assert "innerHTML" not in asset.text and "insertAdjacentHTML" not in asset.text
        assert "eval(" not in asset.text and "document.write" not in asset.text
    assert site.http.get("/console/nope.js").json()["ok"] == 2


def test_sign_in_with_a_wrong_key_then_the_right_one(visit: Visit) -> None:
    page = visit.page
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#key")).to_be_focused()
    expect(page.locator("#key")).to_have_attribute("type", "password")
    page.fill("#key", "not-the-key")
    page.press("#key", "Enter")
    expect(page.locator("#sign-in-error")).to_have_text("Wrong key: the server refused it.")
    assert all("401" in e for e in visit.errors), visit.errors  # the refused try, by chromium
    visit.errors.clear()
    page.fill("#key", SERVICE_KEY)
    page.click("#sign-in button")
    expect(page.locator("#users .row").first).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('huihua.console.key')") == SERVICE_KEY
    assert page.evaluate("localStorage.length") == 0
    assert visit.context.cookies() == []
    # Signing out forgets the key.
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('huihua.console.key')") is None


def test_find_a_user_by_name_and_open_them(visit: Visit) -> None:
    visit.sign_in()
    page = visit.page
    page.fill("#user-query", "consolewei")
    page.press("#user-query", "Enter")
    rows = page.locator("#users .row")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".name")).to_have_text("<b>Zhang</b> Consolewei")  # as text
    expect(rows.first).to_contain_text("2 sessions")
    rows.first.locator("a").click()
    expect(page.locator("#view h1")).to_have_text("<b>Zhang</b> Consolewei")
    expect(page.locator(".profile")).to_contain_text("杭州")
    sessions = page.locator("#sessions .row")
    expect(sessions).to_have_count(2)
    expect(sessions.first).to_contain_text("pinned")  # pinned first
    expect(sessions.first).to_contain_text("看图")


def test_a_session_reads_as_a_chat(visit: Visit) -> None:
    visit.sign_in()
    page = visit.page
    visit.go(f"#/user/{ALICE}")
    page.locator("#sessions .row a", has_text="看图").click()
    chat = page.locator("#chat")
    expect(chat.locator(".msg")).to_have_count(7)
    expect(page.locator("#view h1")).to_have_text("看图")
    expect(chat.locator(".role-system")).to_contain_text("You are a helpful assistant.")
    expect(chat.locator(".role-tool")).to_contain_text("an orange cat")
    expect(chat.locator(".tool-call")).to_contain_text('look({"what": "cat"})')
    reasoning = chat.locator("details.reasoning")
    expect(reasoning).not_to_have_attribute("open", "")
    expect(reasoning.locator(".text")).to_be_hidden()
    reasoning.locator("summary").focus()
    page.keyboard.press("Enter")  # unfolds by keyboard
    expect(reasoning.locator(".text")).to_have_text("The tool says a cat; I will say dog anyway.")
    image = chat.locator("img.thumb")
    expect(image).to_have_attribute("src", IMAGE_URL)
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    expect(chat.locator(".part.file")).to_have_text("file: notes.pdf")  # cloud://: its name
    expect(chat.locator("#m-5 .rating-dislike")).to_be_visible()
    expect(chat.locator("#m-5 .comment")).to_contain_text("wrong animal")
    expect(chat.locator("#m-7 .status-failed")).to_have_text("failed")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        visit.shot("session")


def test_a_message_of_html_is_shown_as_text(visit: Visit) -> None:
    visit.sign_in()
    page = visit.page
    visit.go(f"#/session/{ALICE}/cat-chat")
    message = page.locator("#m-6 .text")
    expect(message).to_have_text(XSS)
    assert page.locator("#chat img").count() == 1  # the thumbnail alone
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    page.wait_for_timeout(0)  # let any handler that wrongly ran report
    assert visit.dialogs == []


def test_a_dislike_in_feedback_leads_to_its_message(visit: Visit) -> None:
    visit.sign_in()
    page = visit.page
    page.click("#nav a[data-section=feedback]")
    cards = page.locator("#feedback .card")
    expect(cards).to_have_count(2)
    page.select_option("#rating", "dislike")
    expect(cards).to_have_count(1)
    card = cards.first
    expect(card.locator(".question")).to_contain_text("这张图里是什么？")
    expect(card.locator(".answer")).to_contain_text("一只狗在晒太阳。")
    expect(card.locator(".comment")).to_contain_text("wrong animal")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        visit.shot("feedback")
    card.locator("a.open").click()
    target = page.locator("#chat #m-5")
    expect(target).to_have_class(re.compile(r"\btarget\b"))
    expect(target).to_be_focused()
    expect(target).to_contain_text("一只狗在晒太阳。")


def test_the_usage_figures_are_usage_stats(visit: Visit, site: Api) -> None:
    visit.sign_in()
    page = visit.page
    page.click("#nav a[data-section=usage]")
    for days in (7, 30, 90):
        page.click(f"a.choice[href='#/usage?days={days}']")
        expect(page.locator("a.choice[aria-current=true]")).to_have_text(f"{days} days")
        expect(page.locator("#totals")).to_be_visible()
        stats = site.call("/usage_stats", days=days)
        totals = stats["totals"]
        for key in ("messages", "active_users", "new_users", "likes", "dislikes"):
            expect(page.locator(f"#totals dd[data-figure={key}]")).to_have_text(str(totals[key]))
        replies = sum(totals["replies"].values())
        expect(page.locator("#totals dd[data-figure=replies]")).to_have_text(str(replies))
        bars = page.locator("#chart-messages rect.bar").evaluate_all(
            "rects => rects.map(r => [r.dataset.date, Number(r.dataset.value)])"
        )
        assert dict(bars) == {d["date"]: d["messages"] for d in stats["days"] if d["messages"]}
        for model, tokens in totals["tokens"].items():
            row = page.locator(f"table.models tr[data-model='{model}'] td")
            expect(row).to_have_text([str(tokens["prompt"]), str(tokens["completion"])])
        statuses = page.locator("#chart-replies rect.bar").evaluate_all(
            "rects => rects.map(r => [r.dataset.series, Number(r.dataset.value)])"
        )
        assert {s: sum(v for k, v in statuses if k == s) for s, _ in statuses} == totals["replies"]
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        visit.shot("usage")


def test_users_by_keyboard_at_both_widths(visit: Visit) -> None:
    page = visit.page
    page.keyboard.type(SERVICE_KEY)  # the key field has the focus
    page.keyboard.press("Enter")
    expect(page.locator("#users .row").first).to_be_visible()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        visit.shot("users")
    # Tab to the Usage link and follow it, then to a user by the search field.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.section") == "usage":
            break
    page.keyboard.press("Enter")
    expect(page.locator("#view h1")).to_have_text("Usage")
    expect(page.locator("#view h1")).to_be_focused()
    visit.go("#/users")
    page.locator("#user-query").focus()
    page.keyboard.type(ALICE)
    page.keyboard.press("Enter")
    expect(page.locator("#users .row")).to_have_count(1)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == f"#/user/{ALICE}"
    page.keyboard.press("Enter")
    expect(page.locator("#sessions .row")).to_have_count(2)


def test_export_downloads_a_document_that_parses(visit: Visit) -> None:
    visit.sign_in()
    page = visit.page
    visit.go(f"#/user/{ALICE}")
    with page.expect_download() as download:
        page.click("#export")
    saved = download.value
    assert saved.suggested_filename == f"huihua-export-{ALICE}.json"
    document = json.loads(Path(saved.path()).read_text(encoding="utf-8"))
    assert document["ok"] == 0 and document["user"]["user_id"] == ALICE
    assert {s["session_id"] for s in document["sessions"]} == {"cat-chat", "other"}
    expect(page.locator("#status")).to_have_text(f"Exported {ALICE}.")


def test_erase_removes_the_user(visit: Visit, site: Api) -> None:
    visit.sign_in()
    page = visit.page
    visit.go(f"#/user/{BOB}")
    page.locator(".danger-zone summary").click()
    button = page.locator(".erase button")
    page.fill("#erase-confirm", BOB[:-1])
    expect(button).to_be_disabled()
    page.fill("#erase-confirm", BOB)
    expect(button).to_be_enabled()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        visit.shot("user")
    button.click()
    expect(page.locator("#status")).to_contain_text(f"Erased {BOB}")
    expect(page.locator("#view h1")).to_have_text("Users")
    assert site.call("/query_user_info", user_id=BOB)["ok"] == 2
    expect(page.locator("#users .row", has_text=BOB)).to_have_count(0)


def test_with_auth_off_the_page_asks_for_no_key(browser: Browser, serve: Any) -> None:
    api: Api = serve("sqlite")
    assert api.call("/add_user", user_id="o-open", user_name="Open House")["ok"] == 0
    tab = Visit(browser, api, width=390)
    try:
        page = tab.page
        expect(page.locator("#users .row")).to_have_count(1)
        expect(page.locator("#sign-in")).to_be_hidden()
        expect(page.locator("#sign-out")).to_be_hidden()
        assert page.evaluate("sessionStorage.length") == 0
    finally:
        tab.close()
