"""The running service against its own OpenAPI document: schemathesis generates requests for every
operation of a live ``rag serve`` (a subprocess on 127.0.0.1, with an API key, over a data dir of
the sample documents and the test news article) and checks each answer: no 5xx, a status code and
a content type the operation declares, a body that matches the declared schema, 405 for a method
a path does not have.

The operations are read when the module is collected, from the document the service's app builds
(``create_app``), so that each is a test of its own; ``test_the_live_server_serves_that_document``
checks that the live server serves exactly that document. (Loading it from the live server inside
a fixture, ``schemathesis.pytest.from_fixture``, fails under pytest 9.2: schemathesis 4.32 sets
``Function._nodeid``, which pytest no longer has.)

Random values alone would never reach the answers worth checking (a citation's shape, a stored
document's span): the hooks below also draw, beside them, the ids of stored documents, the one
model id and questions the documents answer. Fuzzed deletes remove documents: the data dir is this
module's own, and deletes draw only from a copy kept for them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.conftest import NEWS_FR, wait_until

from .conftest import (
    ARTICLE_QUESTION,
    GUIDE_QUESTION,
    HTTP,
    OFF_TOPIC_QUESTION,
    REPO,
    SAMPLE_DOCS,
    free_port,
    real_embedder,  # noqa: F401  (shared fixture)
)

pytestmark = pytest.mark.slow  # fuzzing every operation of a live server: a minute on 2 cores

KEY = "schema-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, unsupported_method]
EXAMPLES = {"generation": {"max-examples": 20, "database": "none"}, "operations": [
    {"include-path": "/v1/chat/completions", "generation": {"max-examples": 60}}]}
"""Generated requests per operation (schemathesis adds its explicit and coverage cases): enough to
reach every parameter's edges, few enough for the file to run in a minute or two on 2 cores; more
for chat completions, whose valid requests (the model, a last user turn) are a small part of those
its schema allows, and which answer in two ways (a completion, a stream)."""
QUESTIONS = [GUIDE_QUESTION, ARTICLE_QUESTION, OFF_TOPIC_QUESTION]
IDS: dict[str, list[str]] = {"stored": [], "expendable": []}
"""Ids of the live server's documents, filled in by ``live``: ``expendable`` ones for DELETE."""


def _document() -> dict:
    """The OpenAPI document of the service's app, built over a RAG that is never opened (its
    parts load on first use, and building the document uses none)."""
    import tempfile

    from rag import RAG
    from ui.serve.app import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        return create_app(RAG(data_dir=data_dir), api_key=KEY, with_ui=False).openapi()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(EXAMPLES))


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters or "document_id" not in path_parameters:
        return st.just(path_parameters)
    ids = IDS["expendable" if context.operation.method.lower() == "delete" else "stored"]
    stored = st.sampled_from(ids).map(lambda i: {**path_parameters, "document_id": i})
    return st.one_of(st.just(path_parameters), stored)


@schema.hook
def flatmap_body(context, body):
    if not isinstance(body, dict):
        return st.just(body)
    question = st.sampled_from(QUESTIONS)
    if "question" in body:  # /api/ask, /api/retrieve
        return st.one_of(st.just(body), question.map(lambda q: {**body, "question": q}))
    if "messages" in body and isinstance(body["messages"], list):  # /v1/chat/completions
        asked = st.tuples(question, st.booleans()).map(lambda qs: {
            **body, "model": "rag-cite", "stream": qs[1],
            "messages": [*body["messages"][-20:], {"role": "user", "content": qs[0]}]})
        return st.one_of(st.just(body), st.just({**body, "model": "rag-cite"}), asked)
    return st.just(body)


def _server_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODEL_CACHE_DIR"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def live(tmp_path_factory, real_embedder):  # noqa: F811
    """`rag serve --api-key KEY` on a free port, over its own freshly ingested data dir."""
    from rag import RAG
    from ui.serve.documents import document_id

    root = tmp_path_factory.mktemp("openapi")
    docs, data = root / "docs", root / "data"
    shutil.copytree(SAMPLE_DOCS, docs / "sample")
    shutil.copytree(NEWS_FR, docs / "news-fr")
    shutil.copytree(SAMPLE_DOCS, docs / "expendable")
    with RAG(data_dir=data, embedder=real_embedder) as rag:
        report = rag.ingest([docs])
        sources = [d.source for d in rag.sources()]
    assert report.added and not report.failed, report
    expendable = str(docs / "expendable")
    IDS["stored"] = [document_id(s) for s in sources if not s.startswith(expendable)]
    IDS["expendable"] = [document_id(s) for s in sources if s.startswith(expendable)]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "rag", "--data-dir", str(data), "serve", "--port", str(port), "--api-key", KEY],
            cwd=REPO, env=_server_env(), stdout=log, stderr=subprocess.STDOUT)

    def ready() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"`rag serve` exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            return HTTP.get(f"{url}/api/health", headers=AUTH, timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, timeout=120, what=f"`rag serve` answering on {url}/api/health")
        yield SimpleNamespace(url=url, docs=docs, data=data, log=log_path)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@schema.parametrize()
@settings(deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_every_operation_answers_as_its_schema_says(case, live):
    case.call_and_validate(base_url=live.url, headers=AUTH, checks=CHECKS, timeout=60)


def test_the_live_server_serves_that_document(live):
    assert HTTP.get(f"{live.url}/openapi.json", timeout=10).json() == DOCUMENT


def test_api_paths_are_answered_by_the_api_not_the_ui(live):
    """The chat UI is mounted at ``/``, yet a wrong method on an API route is the API's 405 (with
    Allow) and an unknown API path the API's 404, both in OpenAI's error shape."""
    wrong = HTTP.put(f"{live.url}/api/ask", headers=AUTH, timeout=10)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["code"] == "http_405"
    for path in ("/api/nothing", "/v1/nothing", "/api/predict"):
        unknown = HTTP.post(f"{live.url}{path}", headers=AUTH, json={}, timeout=10)
        assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error", path
    assert HTTP.get(live.url, timeout=10).status_code == 200  # the UI is still there


ROUTES = {
    "/api/ask": {"post"},
    "/api/retrieve": {"post"},
    "/api/documents": {"get", "post"},
    "/api/documents/{document_id}": {"get", "delete"},
    "/api/documents/{document_id}/text": {"get"},
    "/api/sync": {"post"},
    "/api/health": {"get"},
    "/v1/models": {"get"},
    "/v1/chat/completions": {"post"},
}


def test_the_live_document_lists_every_route(live):
    paths = HTTP.get(f"{live.url}/openapi.json", timeout=10).json()["paths"]
    for path, methods in ROUTES.items():
        assert path in paths, f"{path} is missing from /openapi.json"
        assert methods <= set(paths[path]), f"{path}: {sorted(methods - set(paths[path]))} missing"
    # No bearer security scheme to check: the key is enforced by a middleware (ui/serve/security.py),
    # which the OpenAPI document does not describe (it has no components.securitySchemes).
