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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, expect

from .conftest import SERVICE_KEY
from .console_site import ALICE, BOB, IMAGE_URL, WIDTHS, XSS, Visit
from .console_site import site as site  # a fixture: pytest finds it by name
from .console_site import visit as visit  # a fixture: pytest finds it by name

pytestmark = pytest.mark.chromium

if TYPE_CHECKING:
    from .conftest import Api


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
