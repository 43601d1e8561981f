"""Saved conversations over REST, against the app on a real uvicorn with httpx."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import NEWS_FR
from tests.ui.conftest import ARTICLE_QUESTION, HTTP, running


@pytest.fixture(scope="module")
def service(tmp_path_factory, real_embedder):
    from rag import RAG
    from ui.serve.app import create_app

    root = tmp_path_factory.mktemp("conversations")
    shutil.copytree(NEWS_FR, root / "news")
    with RAG(data_dir=root / "data", embedder=real_embedder) as rag:
        assert rag.ingest([root / "news"]).added
        with running(create_app(rag, with_ui=False)) as url:
            yield url, rag


def test_a_conversation_over_rest(service):
    url, rag = service
    created = HTTP.post(f"{url}/api/conversations", json={})
    assert created.status_code == 201, created.text
    conversation = created.json()
    assert conversation["collection"] == "default" and conversation["title"] == ""
    base = f"{url}/api/conversations/{conversation['id']}"
    first = HTTP.post(f"{base}/ask", json={"question": ARTICLE_QUESTION}).json()
    follow = HTTP.post(f"{base}/ask", json={"question": "Et avec l'OTAN ?"}).json()
    assert first["citations"] and follow["query"] == f"{ARTICLE_QUESTION} Et avec l'OTAN ?"

    detail = HTTP.get(base).json()
    assert detail["title"] == ARTICLE_QUESTION
    assert [t["question"] for t in detail["turns"]] == [ARTICLE_QUESTION, "Et avec l'OTAN ?"]
    assert detail["turns"][0]["answer"] == first  # the saved answer, links included
    for c in first["citations"]:
        assert HTTP.get(c["url"]).json()["text"] == c["quote"]
    assert [c["id"] for c in HTTP.get(f"{url}/api/conversations").json()] == [conversation["id"]]

    markdown = HTTP.get(f"{base}/export")
    assert markdown.headers["content-type"].startswith("text/markdown") and f"## {ARTICLE_QUESTION}" in markdown.text
    assert len(HTTP.get(f"{base}/export", params={"format": "json"}).json()["turns"]) == 2
    assert HTTP.patch(base, json={"title": "Pourparlers"}).json()["title"] == "Pourparlers"

    rated = HTTP.put(f"{base}/turns/1/feedback", json={"rating": "down", "comment": "NATO is missing"})
    assert rated.status_code == 200, rated.text
    assert rated.json() | {"created": 0} == {"conversation": conversation["id"], "turn": 1, "collection": "default",
                                            "rating": "down", "comment": "NATO is missing",
                                            "question": "Et avec l'OTAN ?", "created": 0}
    for body, status in (({"rating": "meh"}, 422), ({"rating": "up", "comment": "x" * 2001}, 422)):
        assert HTTP.put(f"{base}/turns/0/feedback", json=body).status_code == status
    assert HTTP.put(f"{base}/turns/5/feedback", json={"rating": "up"}).status_code == 404
    assert [(t["turn"], t["rating"]) for t in HTTP.get(base).json()["turns"]] == [(0, None), (1, "down")]
    [stored] = [f for f in rag.conversations.feedback("local") if f.conversation == conversation["id"]]
    assert stored.answer["text"] == follow["text"]  # stored with the answer and its citations
    assert [c["quote"] for c in stored.answer["citations"]] == [c["quote"] for c in follow["citations"]]
    assert HTTP.delete(base).status_code == 200
    assert HTTP.get(base).status_code == 404


@pytest.mark.parametrize("method, path, body, status, message", [
    ("get", "/api/conversations/0123456789abcdef", None, 404, "no conversation '0123456789abcdef'"),
    ("post", "/api/conversations/0123456789abcdef/ask", {"question": "x"}, 404, "no conversation"),
    ("post", "/api/conversations", {"collection": "nope"}, 404, "no collection 'nope'"),
    ("post", "/api/conversations", {"collection": "../x"}, 400, "is not a valid collection name"),
    ("get", "/api/conversations/0123456789abcdef/export?format=pdf", None, 422, "format"),
])
def test_bad_conversation_requests_are_clear_errors(service, method, path, body, status, message):
    url, rag = service
    before = rag.conversations.list("local")
    response = HTTP.request(method, f"{url}{path}", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]
    assert rag.conversations.list("local") == before  # nothing saved


def test_a_key_file_names_the_user_of_each_key(tmp_path):
    from rag.errors import UsageError
    from ui.serve.security import read_keys

    keys = tmp_path / "keys"
    keys.write_text("# team keys\nana:key-of-ana\n\n bob : key-of-bob \nkey-alone\n", encoding="utf-8")
    assert read_keys(f"@{keys}") == {"key-of-ana": "ana", "key-of-bob": "bob", "key-alone": "local"}
    assert read_keys("just-a-key") == {"just-a-key": "local"} and read_keys("  ") is None
    keys.write_text("ana:same\nbob:same\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"keys, line 2: a key is given twice"):
        read_keys(f"@{keys}")
    keys.write_text("ana:\n", encoding="utf-8")
    with pytest.raises(UsageError, match="line 1: a key is empty"):
        read_keys(f"@{keys}")


def test_each_key_reaches_only_its_users_conversations(service):
    from ui.serve.app import create_app

    _, rag = service
    keys = {"key-of-ana": "ana", "key-of-bob": "bob"}
    ana, bob = ({"Authorization": f"Bearer {k}"} for k in keys)
    with running(create_app(rag, api_key=keys, with_ui=False)) as url:
        mine = HTTP.post(f"{url}/api/conversations", json={"title": "Ana's"}, headers=ana).json()
        base = f"{url}/api/conversations/{mine['id']}"
        assert HTTP.post(f"{base}/ask", json={"question": ARTICLE_QUESTION}, headers=ana).status_code == 200
        assert [c["id"] for c in HTTP.get(f"{url}/api/conversations", headers=ana).json()] == [mine["id"]]

        assert HTTP.get(f"{url}/api/conversations", headers=bob).json() == []
        for method, path, body in (("get", "", None), ("patch", "", {"title": "Bob's now"}), ("delete", "", None),
                                   ("put", "/turns/0/feedback", {"rating": "down"}),
                                   ("get", "/export", None), ("get", "/export?format=json", None),
                                   ("post", "/ask", {"question": "Et avec l'OTAN ?"})):
            response = HTTP.request(method, f"{base}{path}", json=body, headers=bob)
            assert response.status_code == 404, (method, path, response.text)
            assert ARTICLE_QUESTION not in response.text and "Ana's" not in response.text
        for headers in ({}, {"Authorization": "Bearer key-of-carol"}):
            assert HTTP.get(f"{url}/api/conversations", headers=headers).status_code == 401

        assert rag.conversations.feedback("bob") == []
        kept = rag.conversations.get("ana", mine["id"])
        assert kept.title == "Ana's" and [t.question for t in kept.turns] == [ARTICLE_QUESTION]
