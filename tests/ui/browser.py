"""Driving the chat in a real browser (Debian's chromium through Playwright): the browser, and
the steps the browser tests share."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from tests.conftest import missing

from .conftest import source_text

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
BOT = '#chatbot [data-testid="bot"]'
VIEWPORT = {"width": 1400, "height": 1000}


@contextlib.contextmanager
def chromium():
    """A running Chromium, closed on leaving."""
    if CHROMIUM is None:
        missing("chromium is not installed (apt install chromium; `make test` does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_chat(context, url: str):
    """A page of ``context`` showing the chat at ``url`` (what a page load brings back included)."""
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("#question textarea")
    return page


def new_conversation(page) -> None:
    page.locator("#new-conversation").click()
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length === 0")


def ask(page, question: str, n_answers: int) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        """([sel, n]) => { const b = document.querySelectorAll(sel);
                          return b.length >= n && b[n - 1].innerText.trim().length > 0; }""",
        arg=[BOT, n_answers])  # the first streamed text is shown
    page.wait_for_selector("#sources-panel .cite, #sources-panel .abstained")


def check_marks(page) -> int:
    """Every source shown marks its quote at the cited offsets of its file; how many there are."""
    cites = page.locator("#sources-panel .cite")
    for i in range(cites.count()):
        cite = cites.nth(i)
        source = cite.get_attribute("data-source")
        start, end = int(cite.get_attribute("data-start")), int(cite.get_attribute("data-end"))
        assert cite.locator("mark").inner_text() == source_text(source)[start:end]
        head = cite.locator(".cite-head").inner_text()
        assert f"[{cite.get_attribute('data-number')}]" in head and Path(source).name in head
    return cites.count()


def cited_files(page) -> set[str]:
    return {Path(s).name for s in page.locator("#sources-panel .cite").evaluate_all(
        "cites => cites.map(c => c.dataset.source)")}


def pick_collection(page, name: str) -> None:
    page.locator("#collection input").click()
    page.get_by_role("option", name=name).click()


def dropdown_options(page, elem_id: str) -> list[str]:
    """The choices a dropdown offers (opened, read, closed again; the chosen one's tick left out)."""
    page.locator(f"#{elem_id} input").click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return [o.replace("✓", "").strip() for o in options]
