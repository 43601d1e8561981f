"""Collections over every route of the service: REST paths under /api/collections/NAME, the
OpenAI `model` field naming a collection, and the MCP tools' `collection`, against the app on a
real uvicorn with real clients (httpx, the openai SDK, the mcp client)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.ui.conftest import ARTICLE_QUESTION, HTTP, news_and_harbours, running

PIER = "Who built the stone pier of Port Ellery?"


@pytest.fixture(scope="module")
def service(tmp_path_factory, real_embedder):
    """The app over a data dir whose default collection holds the test article and whose
    collection 'harbours' holds the three harbour articles."""
    from ui.serve.app import create_app

    with news_and_harbours(tmp_path_factory.mktemp("collections"), real_embedder) as rag:
        with running(create_app(rag, with_ui=False)) as url:
            yield url, rag


def _names(citations) -> set[str]:
    return {Path(c["source"]).name for c in citations}


def test_rest_routes_of_a_collection_answer_from_it(service):
    url, _ = service
    listed = HTTP.get(f"{url}/api/collections").json()
    assert [(c["name"], c["documents"]) for c in listed] == [("default", 1), ("harbours", 3)]
    answer = HTTP.post(f"{url}/api/collections/harbours/ask", json={"question": PIER}).json()
    assert _names(answer["citations"]) == {"Port_Ellery.txt"}
    for c in answer["citations"]:
        assert c["url"].startswith(f"{url}/api/collections/harbours/documents/{c['document_id']}/text?")
        assert HTTP.get(c["url"]).json()["text"] == c["quote"]
    default = HTTP.post(f"{url}/api/ask", json={"question": PIER}).json()
    assert "Port_Ellery.txt" not in _names(default["citations"])
    article = HTTP.post(f"{url}/api/collections/default/ask", json={"question": ARTICLE_QUESTION}).json()
    assert _names(article["citations"]) == {"2021-12-pourparlers-otan.txt"}
    docs = HTTP.get(f"{url}/api/collections/harbours/documents").json()
    assert sorted(Path(d["source"]).name for d in docs) == ["Greywater_Lighthouse.txt", "Port_Ellery.txt", "Saltmarsh_Canal.txt"]
    passages = HTTP.post(f"{url}/api/collections/harbours/retrieve", json={"question": PIER, "k": 1}).json()
    assert passages[0]["document_id"] in {d["id"] for d in docs}


def test_collections_are_created_filled_and_deleted_over_rest(service, tmp_path):
    url, rag = service
    created = HTTP.post(f"{url}/api/collections", json={"name": "notes"})
    assert created.status_code == 201 and created.json() == {"name": "notes", "documents": 0, "chunks": 0}
    note = b"date 2024-03-02 Tide tables\n\nThe tide tables of Port Ellery are posted on the harbour office door.\n"
    upload = HTTP.post(f"{url}/api/collections/notes/documents", files=[("files", ("tides.txt", note, "text/plain"))])
    assert upload.status_code == 200 and len(upload.json()["added"]) == 1, upload.text
    saved = rag.settings.data_dir / "collections" / "notes" / "uploads" / "tides.txt"
    assert saved.read_bytes() == note
    assert [Path(d["source"]).name for d in HTTP.get(f"{url}/api/collections/notes/documents").json()] == ["tides.txt"]
    assert "tides.txt" not in {Path(d["source"]).name for d in HTTP.get(f"{url}/api/documents").json()}

    deleted = HTTP.delete(f"{url}/api/collections/notes")
    assert deleted.status_code == 200 and [Path(s).name for s in deleted.json()["removed"]] == ["tides.txt"]
    assert not saved.parent.parent.exists()
    assert [c["name"] for c in HTTP.get(f"{url}/api/collections").json()] == ["default", "harbours"]


@pytest.mark.parametrize("method, path, body, status, message", [
    ("get", "/api/collections/nope/documents", None, 404, "no collection 'nope'"),
    ("post", "/api/collections/nope/ask", {"question": PIER}, 404, "no collection 'nope'"),
    ("post", "/api/collections", {"name": "harbours"}, 400, "already exists"),
    ("post", "/api/collections", {"name": "../up"}, 422, "name"),
    ("delete", "/api/collections/default", None, 400, "default collection cannot be deleted"),
    ("delete", "/api/collections/nope", None, 404, "no collection 'nope'"),
    ("get", "/api/collections/Bad%20Name/documents", None, 400, "is not a valid collection name"),
])
def test_bad_collection_requests_are_clear_errors(service, method, path, body, status, message):
    url, rag = service
    response = HTTP.request(method, f"{url}{path}", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]
    assert [c.name for c in rag.collections()] == ["default", "harbours"]
    assert not (rag.settings.data_dir / "collections" / "nope").exists()


def test_the_openai_model_names_the_collection(service):
    import openai

    url, _ = service
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="none")
    assert [m.id for m in client.models.list()] == ["rag-cite", "harbours"]
    assert client.models.retrieve("harbours").id == "harbours"
    completion = client.chat.completions.create(model="harbours", messages=[{"role": "user", "content": PIER}])
    message = completion.choices[0].message
    assert completion.model == "harbours"
    rag = message.model_extra["rag"]
    assert _names(rag["citations"]) == {"Port_Ellery.txt"}
    for note in message.annotations:
        marker = message.content[note.url_citation.start_index:note.url_citation.end_index]
        cited = next(c for c in rag["citations"] if f"[{c['number']}]" == marker)
        assert HTTP.get(note.url_citation.url).json()["text"] == cited["quote"]
    default = client.chat.completions.create(model="rag-cite", messages=[{"role": "user", "content": PIER}])
    assert "Port_Ellery.txt" not in _names(default.choices[0].message.model_extra["rag"]["citations"])
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": PIER}])
    assert err.value.body["code"] == "model_not_found" and "'harbours'" in err.value.body["message"]


def test_mcp_tools_take_the_collection(service):
    from mcp import Client

    url, _ = service

    async def run():
        async with Client(f"{url}/mcp") as client:
            return (await client.call_tool("list_collections", {}),
                    await client.call_tool("ask", {"question": PIER, "collection": "harbours"}),
                    await client.call_tool("list_documents", {"collection": "harbours"}),
                    await client.call_tool("ask", {"question": PIER, "collection": "nope"}))

    listed, answer, documents, unknown = anyio.run(run)
    assert [c["name"] for c in listed.structured_content["collections"]] == ["default", "harbours"]
    assert _names(answer.structured_content["citations"]) == {"Port_Ellery.txt"}
    assert len(documents.structured_content["documents"]) == 3
    assert unknown.is_error and "no collection 'nope'" in unknown.content[0].text
