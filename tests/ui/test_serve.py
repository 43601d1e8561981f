"""`rag serve` as clients use it: the official `openai` SDK (sync and streaming), LangChain's
`ChatOpenAI` and plain HTTP against a real server on 127.0.0.1. Every citation must survive the
route: its annotation points at its marker, and its quote equals the span fetched over /api."""

from __future__ import annotations

import re

import pytest

from .conftest import ARTICLE_QUESTION, GUIDE_QUESTION, HTTP, OFF_TOPIC_QUESTION

pytestmark = pytest.mark.xdist_group("served")  # one worker runs every test of the served instance (make test-fast)


@pytest.fixture(scope="module")
def openai_client(served):
    from openai import OpenAI

    return OpenAI(base_url=f"{served.url}/v1", api_key=served.key, max_retries=0)


def _span(served, url: str) -> str:
    response = HTTP.get(url, headers=served.headers())
    assert response.status_code == 200, response.text
    return response.json()["text"]


def _check_resolves(served, content: str, annotations: list, rag: dict) -> None:
    """Each marker has its annotation, each annotation its marker and citation, and each
    citation's quote is the exact text of its span, fetched over /api."""
    assert rag["citations"] and not rag["abstained"]
    numbers = {c["number"] for c in rag["citations"]}
    markers = [m for m in re.finditer(r"\[(\d+)\]", content)]
    assert {int(m.group(1)) for m in markers} == numbers
    assert len(annotations) == len(markers)
    by_number = {c["number"]: c for c in rag["citations"]}
    for note in annotations:
        cite = note["url_citation"]
        marker = content[cite["start_index"]:cite["end_index"]]
        citation = by_number[int(marker.strip("[]"))]
        assert cite["url"] == citation["url"] and cite["title"] == citation["title"]
        assert _span(served, cite["url"]) == citation["quote"]
        text = _span(served, f"{served.url}/api/documents/{citation['document_id']}/text")
        assert text[citation["start"]:citation["end"]] == citation["quote"]


def test_openai_client_gets_an_answer_whose_citations_resolve(served, openai_client):
    completion = openai_client.chat.completions.create(
        model="rag-cite", messages=[{"role": "user", "content": ARTICLE_QUESTION}])
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop"
    assert message.annotations and all(a.type == "url_citation" for a in message.annotations)
    rag = message.model_extra["rag"]
    _check_resolves(served, message.content, [a.model_dump() for a in message.annotations], rag)
    assert any("news-fr" in c["source"] for c in rag["citations"])
    assert "Nouvel An" in message.content
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens > 0


def test_openai_stream_carries_the_citations_in_its_last_content_chunk(served, openai_client):
    stream = openai_client.chat.completions.create(
        model="rag-cite", messages=[{"role": "user", "content": GUIDE_QUESTION}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    carrying = [c for c in chunks if c.choices and (c.choices[0].delta.model_extra or {}).get("rag")]
    assert len(carrying) == 1
    delta = carrying[0].choices[0].delta.model_extra
    assert delta["rag"]["text"] == text  # what was streamed is the final answer
    _check_resolves(served, text, delta["annotations"], delta["rag"])
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    # the same answer as without streaming
    plain = openai_client.chat.completions.create(
        model="rag-cite", messages=[{"role": "user", "content": GUIDE_QUESTION}])
    assert plain.choices[0].message.content == text


def test_a_follow_up_in_messages_is_rewritten(served, openai_client):
    first = openai_client.chat.completions.create(
        model="rag-cite", messages=[{"role": "user", "content": ARTICLE_QUESTION}])
    follow_up = openai_client.chat.completions.create(model="rag-cite", messages=[
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": ARTICLE_QUESTION},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "et avec l'OTAN ?"}])
    rag = follow_up.choices[0].message.model_extra["rag"]
    assert rag["query"] == f"{ARTICLE_QUESTION} et avec l'OTAN ?"
    assert any("news-fr" in c["source"] for c in rag["citations"])


def test_an_off_corpus_question_abstains_with_no_citations(served, openai_client):
    completion = openai_client.chat.completions.create(
        model="rag-cite", messages=[{"role": "user", "content": OFF_TOPIC_QUESTION}])
    message = completion.choices[0].message
    assert message.model_extra["rag"]["abstained"] is True
    assert message.model_extra["rag"]["citations"] == [] and message.annotations == []
    assert message.content == "The documents do not contain the answer."


def test_filters_go_in_the_rag_extension(served, openai_client):
    guide_fr = str(served.docs / "sample" / "guide-fr.md")
    completion = openai_client.chat.completions.create(
        model="rag-cite", messages=[{"role": "user", "content": GUIDE_QUESTION}],
        extra_body={"rag": {"sources": [guide_fr], "k": 2}})
    citations = completion.choices[0].message.model_extra["rag"]["citations"]
    assert citations and all(c["source"] == guide_fr for c in citations)
    from openai import BadRequestError

    with pytest.raises(BadRequestError) as err:
        openai_client.chat.completions.create(
            model="rag-cite", messages=[{"role": "user", "content": GUIDE_QUESTION}],
            extra_body={"rag": {"date_from": "2021-13"}}, stream=True)
    assert "date_from: '2021-13' is not a date" in err.value.message


def test_langchain_chat_openai_gets_the_cited_answer(served):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{served.url}/v1", api_key=served.key, model="rag-cite", max_retries=0)
    reply = chat.invoke(ARTICLE_QUESTION)
    streamed = "".join(chunk.content for chunk in chat.stream(ARTICLE_QUESTION))
    answer = HTTP.post(f"{served.url}/api/ask", json={"question": ARTICLE_QUESTION},
                        headers=served.headers()).json()
    assert reply.content == streamed == answer["text"]
    # every marker LangChain shows resolves to a citation whose quote is its span's exact text
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", reply.content)}
    assert markers == {c["number"] for c in answer["citations"]} != set()
    for c in answer["citations"]:
        assert _span(served, c["url"]) == c["quote"]


def test_models_and_openai_errors(served, openai_client):
    import openai

    assert [m.id for m in openai_client.models.list()] == ["rag-cite"]
    with pytest.raises(openai.NotFoundError) as err:
        openai_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        openai_client.models.retrieve("gpt-4o")
    for body in ({"model": "rag-cite", "messages": []}, {"model": "rag-cite"}, {"messages": "x"},
                 {"model": "rag-cite", "messages": [{"role": "assistant", "content": "hi"}]}):
        response = HTTP.post(f"{served.url}/v1/chat/completions", json=body, headers=served.headers())
        assert response.status_code in (400, 422), response.text
        error = response.json()["error"]
        assert error["message"] and error["type"] == "invalid_request_error"
        assert "Traceback" not in response.text
    response = HTTP.post(f"{served.url}/v1/chat/completions", content=b"{not json",
                          headers={**served.headers(), "content-type": "application/json"})
    assert response.status_code == 422 and "error" in response.json()


def test_rest_ask_retrieve_documents_and_spans(served):
    headers = served.headers()
    documents = HTTP.get(f"{served.url}/api/documents", headers=headers).json()
    by_source = {d["source"]: d for d in documents}
    article = next(d for s, d in by_source.items() if "news-fr" in s)
    assert HTTP.get(f"{served.url}/api/documents/{article['id']}", headers=headers).json() == article
    passages = HTTP.post(f"{served.url}/api/retrieve", json={"question": ARTICLE_QUESTION, "k": 2},
                          headers=headers).json()
    assert len(passages) == 2 and passages[0]["document_id"] == article["id"]
    for p in passages:
        url = f"{served.url}/api/documents/{p['document_id']}/text?start={p['start']}&end={p['end']}"
        assert _span(served, url) == p["text"]
    answer = HTTP.post(f"{served.url}/api/ask", json={"question": ARTICLE_QUESTION}, headers=headers).json()
    assert answer["citations"] and all(_span(served, c["url"]) == c["quote"] for c in answer["citations"])
    health = HTTP.get(f"{served.url}/api/health", headers=headers).json()
    assert health["status"] == "ok" and health["documents"] == len(documents)
    missing = HTTP.get(f"{served.url}/api/documents/0000000000000000/text", headers=headers)
    assert missing.status_code == 404 and "no document with id" in missing.json()["error"]["message"]
    outside = HTTP.get(f"{served.url}/api/documents/{article['id']}/text?start=0&end=10000000", headers=headers)
    assert outside.status_code == 400 and "is not inside document" in outside.json()["error"]["message"]


def test_every_protected_route_wants_the_key(served):
    spec = HTTP.get(f"{served.url}/openapi.json").json()
    routes = [(method, path.replace("{document_id}", "abc").replace("{model}", "rag-cite")
               .replace("{collection}", "default").replace("{conversation_id}", "abc"))
              for path, item in spec["paths"].items() for method in item]
    routes += [("post", "/mcp"), ("get", "/mcp/")]
    assert len(routes) >= 13
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": served.key}):
            response = HTTP.request(method, f"{served.url}{path}", headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"]["code"] == "invalid_api_key"
    assert HTTP.get(f"{served.url}/").status_code == 200  # the chat UI (it has its own login)


def test_uploads_with_hostile_names_stay_in_the_uploads_folder(served, tmp_path):
    uploads = (served.data_dir / "uploads").resolve()
    names = ["../../escaped.txt", "/tmp/absolute.txt", "..\\..\\windows.txt", "ctrl\x00\n\x1bname.txt", ".."]
    body = "date 2024-05-02 Hostile names\n\nA note about the lighthouse keepers of Ouessant.\n"
    files = [("files", (name, body.encode(), "text/plain")) for name in names]
    before = {p for p in served.data_dir.parent.rglob("*")}
    response = HTTP.post(f"{served.url}/api/documents", files=files, headers=served.headers())
    assert response.status_code == 200, response.text
    report = response.json()
    written = {p for p in served.data_dir.parent.rglob("*")} - before
    assert written and all(p.resolve().is_relative_to(served.data_dir.resolve()) for p in written)
    saved = [p for p in written if p.parent == uploads]
    assert len(saved) == 4 and {"escaped.txt", "absolute.txt", "windows.txt"} <= {p.name for p in saved}
    assert not any(ch < " " for p in saved for ch in p.name)
    assert sorted(report["added"]) == sorted(str(p) for p in saved if p.suffix == ".txt")
    assert [f["name"] for f in report["failed"]] == ["upload"]
    for path in report["added"]:
        doc = next(d for d in HTTP.get(f"{served.url}/api/documents", headers=served.headers()).json()
                   if d["source"] == path)
        removed = HTTP.delete(f"{served.url}/api/documents/{doc['id']}", headers=served.headers())
        assert removed.json() == {"removed": [path]}
    assert not any(p.suffix == ".txt" for p in uploads.iterdir())


def test_bodies_over_the_limit_are_refused(served):
    big = {"question": "x" * (2 * 2**20)}
    response = HTTP.post(f"{served.url}/api/ask", json=big, headers=served.headers())
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"

    def chunked():
        for _ in range(3):
            yield b" " * 2**20

    response = HTTP.post(f"{served.url}/api/ask", content=chunked(),
                          headers={**served.headers(), "content-type": "application/json"})
    assert response.status_code == 413
