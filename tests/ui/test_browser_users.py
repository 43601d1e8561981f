"""Two people logged in to one `rag serve`, each in a browser context of their own: each sees
only their own conversations and the collections open to them; a thumb on an answer is saved,
with its comment, and shown again with the conversation, after a restart of the server too."""

from __future__ import annotations

import pytest

from tests.conftest import wait_until

from .browser import (BOT, VIEWPORT, ask, check_marks, chromium, cited_files, dropdown_options,
                      new_conversation, open_chat, pick_collection)
from .conftest import ARTICLE_QUESTION, Served, news_and_harbours

pytestmark = pytest.mark.xdist_group("browser-users")  # one worker: one server, one browser

PIER = "Who built the stone pier of Port Ellery?"
PASSWORDS = {"alice": "alice-pw-3k", "bob": "bob-pw-9q"}


class Server:
    """`rag serve` with the two logins over one data dir, which a restart keeps."""

    def __init__(self, root):
        logins = root / "logins.txt"
        logins.write_text("".join(f"{u}:{p}\n" for u, p in PASSWORDS.items()), encoding="utf-8")
        self.root, self.args = root, ("--auth", f"@{logins}")
        self.start()

    def start(self) -> None:
        self.served = Served(self.root / "data", self.root / "serve.log", *self.args)
        wait_until(self.served.ready, timeout=180, what="rag serve answers /api/health")
        self.url = self.served.url

    def restart(self) -> None:
        self.served.stop()
        self.start()

    def conversations(self):
        from rag.conversations import Conversations

        return Conversations(self.root / "data" / "conversations.sqlite3")


@pytest.fixture(scope="module")
def server(tmp_path_factory, real_embedder):
    """The test article in the default collection; 'harbours' open to alice only."""
    root = tmp_path_factory.mktemp("users")
    with news_and_harbours(root, real_embedder) as rag:
        (rag.settings.data_dir / "access.toml").write_text('[collections.harbours]\nusers = ["alice"]\n',
                                                           encoding="utf-8")
    server = Server(root)
    yield server
    server.served.stop()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def logged_in(browser, url: str, user: str):
    """A new browser context of ``user``, logged in through the login form; its chat page."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#question textarea")
    return page


def saved_conversations(page) -> list[str]:
    page.get_by_text("Saved conversations").click()
    return dropdown_options(page, "conversations")


def test_two_users_see_only_their_own_conversations_and_collections(browser, server):
    alice, bob = logged_in(browser, server.url, "alice"), logged_in(browser, server.url, "bob")
    assert dropdown_options(alice, "collection") == ["default", "harbours"]
    assert dropdown_options(bob, "collection") == ["default"]  # harbours is not offered to bob
    assert saved_conversations(alice) == saved_conversations(bob) == []

    pick_collection(alice, "harbours")
    for page, question in ((alice, PIER), (bob, ARTICLE_QUESTION)):  # both asking at once
        page.locator("#question textarea").fill(question)
        page.locator("#question textarea").press("Enter")
    for page in (alice, bob):
        page.wait_for_selector("#sources-panel .cite")
        assert check_marks(page) >= 1
    assert cited_files(alice) == {"Port_Ellery.txt"}
    assert "Port_Ellery.txt" not in cited_files(bob)

    for page in (alice, bob):
        page.reload()
        page.wait_for_selector("#sources-panel .cite mark")  # each one's own conversation is back
    assert cited_files(alice) == {"Port_Ellery.txt"} and "Port_Ellery.txt" not in cited_files(bob)
    assert saved_conversations(alice) == [f"{PIER} · harbours"]
    assert saved_conversations(bob) == [f"{ARTICLE_QUESTION} · default"]
    store = server.conversations()
    assert [c.title for c in store.list("alice")] == [PIER]
    assert [c.title for c in store.list("bob")] == [ARTICLE_QUESTION]
    for page in (alice, bob):
        page.context.close()


def test_a_thumb_and_its_comment_are_saved_and_shown_after_a_restart(browser, server):
    page = logged_in(browser, server.url, "bob")
    new_conversation(page)
    ask(page, ARTICLE_QUESTION, 1)
    answer = page.locator(BOT).nth(0).inner_text()
    page.locator("#chatbot").get_by_role("button", name="Dislike", exact=True).click()
    store = server.conversations()
    conversation = store.list("bob")[0]  # the latest
    wait_until(lambda: [t.rating for t in store.get("bob", conversation.id).turns] == ["down"],
               what="bob's thumb down is saved")
    page.locator("#feedback-comment textarea").fill("The date of the talks is missing")
    page.locator("#send-comment").click()
    wait_until(lambda: [(f.rating, f.comment) for f in store.feedback("bob")]
               == [("down", "The date of the talks is missing")], what="the comment is saved with it")
    assert store.feedback("alice") == []
    page.context.close()

    server.restart()
    page = logged_in(browser, server.url, "bob")  # the latest conversation comes back
    page.wait_for_selector("#sources-panel .cite mark")
    assert page.locator(BOT).nth(0).inner_text() == answer
    assert check_marks(page) >= 1
    thumbs = page.locator("#chatbot").get_by_role("button", name="Disliked", exact=True)
    assert thumbs.count() == 1  # the rating given, as it was
    new_conversation(page)
    ask(page, ARTICLE_QUESTION, 1)  # a new conversation starts without it
    assert page.locator("#chatbot").get_by_role("button", name="Disliked", exact=True).count() == 0
    page.context.close()
