"""A collection restricted by the access file, over every route of the service: REST, /v1 (the
openai SDK) and /mcp (the mcp client), against the app on a real uvicorn with two users' keys.
A user never gets data of a collection not open to them: 403 on REST, an unknown model on /v1, a
tool error on MCP."""

from __future__ import annotations


import anyio
import httpx
import pytest

from tests.ui.conftest import ARTICLE_QUESTION, HTTP, news_and_harbours, running

PIER = "Who built the stone pier of Port Ellery?"
RULES = '[groups]\nport = ["ana"]\n\n[collections.harbours]\ngroups = ["port"]\n'
KEYS = {"key-of-ana": "ana", "key-of-bob": "bob"}
ANA, BOB = ({"Authorization": f"Bearer {k}"} for k in KEYS)


@pytest.fixture(scope="module")
def service(tmp_path_factory, real_embedder):
    """The app over a data dir whose default collection holds the test article and whose
    collection 'harbours', open only to the group 'port' (ana), the harbour articles."""
    from ui.serve.app import create_app

    with news_and_harbours(tmp_path_factory.mktemp("access"), real_embedder) as rag:
        (rag.settings.data_dir / "access.toml").write_text(RULES, encoding="utf-8")
        with running(create_app(rag, api_key=KEYS, with_ui=False)) as url:
            yield url, rag


def _leaks(response: httpx.Response) -> bool:
    return any(word in response.text for word in ("Port_Ellery", "Port Ellery", "Greywater", "pier"))


def test_rest_serves_a_restricted_collection_to_its_users_only(service):
    url, rag = service
    assert [c["name"] for c in HTTP.get(f"{url}/api/collections", headers=ANA).json()] == ["default", "harbours"]
    assert [c["name"] for c in HTTP.get(f"{url}/api/collections", headers=BOB).json()] == ["default"]
    base = f"{url}/api/collections/harbours"
    answer = HTTP.post(f"{base}/ask", json={"question": PIER}, headers=ANA).json()
    cited = answer["citations"][0]
    assert HTTP.get(cited["url"], headers=ANA).json()["text"] == cited["quote"]

    upload = ("files", ("tides.txt", b"The tides of Port Ellery.\n", "text/plain"))
    for method, path, kwargs in (
            ("get", "/documents", {}), ("post", "/ask", {"json": {"question": PIER}}),
            ("post", "/retrieve", {"json": {"question": PIER}}),
            ("get", f"/documents/{cited['document_id']}", {}),
            ("get", cited["url"].split("/harbours", 1)[1], {}),
            ("delete", f"/documents/{cited['document_id']}", {}), ("post", "/sync", {}),
            ("post", "/documents", {"files": [upload]}), ("delete", "", {})):
        response = HTTP.request(method, f"{base}{path}", headers=BOB, **kwargs)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "collection_not_granted" and not _leaks(response)
    assert not (rag.settings.data_dir / "collections" / "harbours" / "uploads").exists()
    assert len(rag.collection("harbours").sources()) == 3  # nothing removed

    refused = HTTP.post(f"{url}/api/conversations", json={"collection": "harbours"}, headers=BOB)
    assert refused.status_code == 403 and rag.conversations.list("bob") == []
    hers = HTTP.post(f"{url}/api/conversations", json={"collection": "harbours"}, headers=ANA).json()
    assert HTTP.post(f"{url}/api/conversations/{hers['id']}/ask", json={"question": PIER}, headers=ANA).status_code == 200
    for method in ("get", "delete"):
        assert HTTP.request(method, f"{url}/api/conversations/{hers['id']}", headers=BOB).status_code == 404
    assert HTTP.post(f"{url}/api/ask", json={"question": ARTICLE_QUESTION}, headers=BOB).json()["citations"]


def test_v1_lists_and_answers_only_the_models_open_to_the_user(service):
    import openai

    url, _ = service
    ana = openai.OpenAI(base_url=f"{url}/v1", api_key="key-of-ana")
    bob = openai.OpenAI(base_url=f"{url}/v1", api_key="key-of-bob")
    assert [m.id for m in ana.models.list()] == ["rag-cite", "harbours"]
    assert [m.id for m in bob.models.list()] == ["rag-cite"]
    question = [{"role": "user", "content": PIER}]
    assert ana.chat.completions.create(model="harbours", messages=question).choices[0].message.annotations
    for call in (lambda: bob.models.retrieve("harbours"),
                 lambda: bob.chat.completions.create(model="harbours", messages=question),
                 lambda: bob.chat.completions.create(model="harbours", messages=question, stream=True)):
        with pytest.raises(openai.NotFoundError) as err:
            call()
        assert err.value.body["code"] == "model_not_found" and "'harbours'" in err.value.body["message"]
        assert "Port Ellery" not in str(err.value.body)


def test_mcp_tools_refuse_a_collection_not_open_to_the_caller(service):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    url, _ = service

    async def calls(headers):
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(300)) as http:
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
                return [await client.call_tool(name, args) for name, args in (
                    ("list_collections", {}), ("ask", {"question": PIER, "collection": "harbours"}),
                    ("search", {"query": PIER, "collection": "harbours"}),
                    ("list_documents", {"collection": "harbours"}),
                    ("read_document", {"document_id": "0" * 16, "collection": "harbours"}))]

    listed, *refused = anyio.run(calls, BOB)
    assert [c["name"] for c in listed.structured_content["collections"]] == ["default"]
    for result in refused:
        assert result.is_error and "'harbours' is not open to the user 'bob'" in result.content[0].text
        assert "Port Ellery" not in result.content[0].text
    listed, answer, *_ = anyio.run(calls, ANA)
    assert [c["name"] for c in listed.structured_content["collections"]] == ["default", "harbours"]
    assert "Port_Ellery.txt" in {c["source"].rsplit("/", 1)[-1] for c in answer.structured_content["citations"]}


def test_a_grant_takes_effect_at_the_next_request(service):
    url, rag = service
    access = rag.settings.data_dir / "access.toml"
    try:
        access.write_text(RULES + '\n[collections.default]\nusers = ["ana"]\n', encoding="utf-8")
        assert HTTP.post(f"{url}/api/ask", json={"question": ARTICLE_QUESTION}, headers=BOB).status_code == 403
        assert HTTP.get(f"{url}/v1/models", headers=BOB).json()["data"] == []
        access.write_text(RULES.replace('["ana"]', '["ana", "bob"]'), encoding="utf-8")
        assert [m["id"] for m in HTTP.get(f"{url}/v1/models", headers=BOB).json()["data"]] == ["rag-cite", "harbours"]
    finally:
        access.write_text(RULES, encoding="utf-8")
