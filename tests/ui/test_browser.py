"""The web chat in a real browser (Debian's chromium through Playwright)."""

from __future__ import annotations

import pytest

from .browser import BOT, VIEWPORT, ask, check_marks, chromium, cited_files, new_conversation, open_chat, pick_collection
from .conftest import ARTICLE_QUESTION, GUIDE_QUESTION, OFF_TOPIC_QUESTION, REPO

pytestmark = pytest.mark.xdist_group("ui")  # one worker runs every test of the session's UI (make test-fast)

@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def context(browser):
    """One browser context for the module: each test's page loads the app's scripts from its
    cache (the app keeps no state in the browser: no cookies, no local storage)."""
    context = browser.new_context(viewport=VIEWPORT)
    yield context
    context.close()


@pytest.fixture
def page(context, ui):
    """The chat, on a new conversation (a page load brings back the latest saved one)."""
    page = open_chat(context, ui.url)
    new_conversation(page)
    yield page
    page.close()


def test_chat_streams_answer_with_highlighted_sources(page):
    question = ARTICLE_QUESTION
    ask(page, question, 1)
    answer = page.locator(BOT).nth(0).inner_text()
    assert "[1]" in answer  # citation markers stay visible
    assert check_marks(page) >= 1
    assert question in page.locator("#sources-panel .sources-question").inner_text()

    # an abstention says so, with no sources
    ask(page, OFF_TOPIC_QUESTION, 2)
    panel = page.locator("#sources-panel")
    panel.locator(".abstained").wait_for()
    assert "The documents do not contain the answer" in panel.inner_text()
    assert panel.locator(".cite").count() == 0

    # clicking the first answer brings its sources back
    page.locator(BOT).nth(0).click()
    page.wait_for_selector("#sources-panel .cite mark")
    assert check_marks(page) >= 1
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "ui-chat.png"), full_page=True)


def test_follow_up_shows_the_query_used(page):
    ask(page, GUIDE_QUESTION, 1)
    ask(page, "and a folder?", 2)
    assert "Searched for" in page.locator("#sources-panel").inner_text()
    assert GUIDE_QUESTION in page.locator("#sources-panel .sources-query").inner_text()


def test_filter_restricts_to_chosen_dates(page):
    page.get_by_text("Filters").click()
    page.locator("#date-from input, #date-from textarea").fill("1990")
    page.locator("#date-to input, #date-to textarea").fill("1991")
    ask(page, GUIDE_QUESTION, 1)
    assert page.locator("#sources-panel .abstained").count() == 1
    page.locator("#date-from input, #date-from textarea").fill("19x")
    page.locator("#question textarea").fill(GUIDE_QUESTION)
    page.locator("#question textarea").press("Enter")
    page.get_by_text("is not a date like 2024").first.wait_for()


def _upload(page, files) -> None:
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(files)
    page.wait_for_selector("#upload table, #upload .file-preview", timeout=30_000)
    page.locator("#add-files").click()
    page.wait_for_function(
        "() => document.querySelector('#ingest-status')?.innerText.includes('Indexed')")


def test_upload_in_documents_tab_lists_the_document(page, ui, tmp_path):
    doc = tmp_path / "lighthouse-notes.md"
    doc.write_text("date 2023-07-14 Lighthouse keeping notes\n\nThe lamp of the north lighthouse "
                   "is cleaned every morning at dawn.\n", encoding="utf-8")
    _upload(page, str(doc))
    assert not page.locator("#page-url").is_visible()  # adding web pages: off without url_allow
    page.wait_for_function(
        "() => document.querySelector('#documents')?.innerText.includes('lighthouse-notes.md')")
    table = page.locator("#documents").inner_text()
    assert "Lighthouse keeping notes" in table and "2023-07-14" in table
    saved = ui.data_dir.resolve() / "uploads" / "lighthouse-notes.md"
    assert saved.read_bytes() == doc.read_bytes()

    # then remove it again from the list
    page.locator("#to-remove input").click()
    page.get_by_role("option", name="Lighthouse keeping notes — lighthouse-notes.md").click()
    page.locator("#remove").click()
    page.wait_for_function(
        "() => !document.querySelector('#documents')?.innerText.includes('lighthouse-notes.md')")
    assert str(saved) not in [d.source for d in ui.rag.sources()]
    assert not saved.exists()


def test_path_traversal_upload_stays_in_uploads(page, ui):
    before = {p for p in ui.root.rglob("*")}
    payload = b"date 2022-02-02 Traversal probe\n\nThis file tried to escape its folder.\n"
    _upload(page, [{"name": "../../evil.txt", "mimeType": "text/plain", "buffer": payload},
                   {"name": "..\\..\\evil2.md", "mimeType": "text/markdown", "buffer": payload},
                   {"name": "bad.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}])
    uploads = ui.data_dir.resolve() / "uploads"
    status = page.locator("#ingest-status").inner_text()
    assert "bad.exe" in status and "unsupported file type" in status
    new = {p for p in ui.root.rglob("*")} - before - {uploads}  # the folder itself: made by the first upload
    assert new and all(p.parent == uploads for p in new), new
    assert {p.read_bytes() for p in new} == {payload}
    assert sorted(p.name for p in new) == ["evil.txt", "evil2.md"]
    for escaped in (ui.data_dir.parent, ui.data_dir.parent.parent, ui.root.parent):
        assert not (escaped / "evil.txt").exists() and not (escaped / "evil2.md").exists()


def test_switching_collection_answers_from_that_collection(context, ui):
    """A collection made while the app runs is offered at the next page load; picking it starts a
    new conversation over its documents, and the documents tab lists only them."""
    from tests.conftest import EVAL

    pier = "Who built the stone pier of Port Ellery?"
    ui.rag.create_collection("harbours")
    try:
        ui.rag.collection("harbours").ingest([EVAL / "harbours-en" / "docs"])
        page = open_chat(context, ui.url)
        new_conversation(page)
        pick_collection(page, "harbours")
        ask(page, pier, 1)
        assert check_marks(page) >= 1
        assert cited_files(page) == {"Port_Ellery.txt"}
        page.get_by_role("tab", name="Documents").click()
        page.wait_for_function("() => document.querySelector('#documents')?.innerText.includes('Port_Ellery.txt')")
        assert "pourparlers" not in page.locator("#documents").inner_text()

        page.get_by_role("tab", name="Chat").click()
        pick_collection(page, "default")
        page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length === 0")  # a new conversation
        ask(page, pier, 1)
        assert page.locator("#sources-panel .abstained").count() == 1  # the default has no harbours
        page.close()
        assert "harbours" in {c.collection for c in ui.rag.conversations.list("local")}  # saved there
    finally:
        for c in ui.rag.conversations.list("local"):
            if c.collection == "harbours":
                ui.rag.conversations.delete("local", c.id)
        ui.rag.delete_collection("harbours")


def test_a_reload_brings_the_conversation_back_with_its_sources(page, ui):
    ask(page, ARTICLE_QUESTION, 1)
    ask(page, "Et avec l'OTAN ?", 2)
    answers = [page.locator(BOT).nth(i).inner_text() for i in range(2)]
    shown = check_marks(page)

    page.reload()
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length === 2")
    assert [page.locator(BOT).nth(i).inner_text() for i in range(2)] == answers
    page.wait_for_selector("#sources-panel .cite mark")
    assert check_marks(page) == shown  # the last answer's sources, as they were given
    page.locator(BOT).nth(0).click()  # and the first answer's
    page.wait_for_function("() => document.querySelector('#sources-panel .sources-question')"
                           f"?.innerText.includes({ARTICLE_QUESTION!r})")
    assert check_marks(page) >= 1

    new_conversation(page)
    page.get_by_text("Saved conversations").click()
    page.locator("#conversations input").click()
    page.get_by_role("option", name=f"{ARTICLE_QUESTION} · default").first.click()
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length === 2")
    assert page.locator(BOT).nth(1).inner_text() == answers[1]
    assert ARTICLE_QUESTION in [c.title for c in ui.rag.conversations.list("local")]
