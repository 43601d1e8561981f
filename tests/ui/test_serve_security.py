"""Who may reach `rag serve`, and what the settings that shape its answers do: a public address
needs a key or a login, without a key the API answers only on loopback, CORS is off unless
configured, and the Sources list is appended only when asked."""

from __future__ import annotations

import shutil
import subprocess
import sys

import httpx
import pytest

from .conftest import GUIDE_QUESTION, HTTP, REPO, SAMPLE_DOCS, running


@pytest.fixture(scope="module")
def rag(tmp_path_factory, real_embedder):
    from rag import RAG

    root = tmp_path_factory.mktemp("security")
    shutil.copytree(SAMPLE_DOCS, root / "docs")
    with RAG(data_dir=root / "data", embedder=real_embedder) as rag:
        assert rag.ingest([root / "docs"]).added
        yield rag


def _ask(url: str, headers: dict | None = None) -> httpx.Response:
    return HTTP.post(f"{url}/v1/chat/completions", headers=headers or {},
                      json={"model": "rag-cite", "messages": [{"role": "user", "content": GUIDE_QUESTION}]})


@pytest.mark.parametrize("args", [["--host", "0.0.0.0"], pytest.param(
    ["--host", "192.168.1.10", "--port", "8999"], marks=pytest.mark.slow)])  # slow: the same refusal
def test_a_public_bind_without_key_or_login_refuses_to_start(tmp_path, args):
    result = subprocess.run([sys.executable, "-m", "rag", "--data-dir", str(tmp_path / "data"), "serve", *args],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to serve" in lines[0] and "--api-key" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_without_a_key_the_api_answers_on_loopback_only(rag):
    from ui.serve.app import create_app

    with running(create_app(rag, with_ui=False)) as url:
        assert _ask(url).status_code == 200
    # as bound to a public address with a UI login but no key: the API stays closed
    with running(create_app(rag, host="192.0.2.10", with_ui=False)) as url:
        response = _ask(url)
        assert response.status_code == 401 and "no API key" in response.json()["error"]["message"]
        assert HTTP.get(f"{url}/api/health").status_code == 401


def test_on_a_public_address_the_chat_needs_a_login(rag):
    from ui.serve.app import create_app

    with running(create_app(rag, api_key="k", host="192.0.2.10")) as url:
        response = HTTP.get(f"{url}/")
        assert response.status_code == 403 and "--auth" in response.json()["error"]["message"]
        assert HTTP.get(f"{url}/gradio_api/info").status_code == 404
        assert _ask(url, {"Authorization": "Bearer k"}).status_code == 200
    with running(create_app(rag, api_key="k", host="192.0.2.10", ui_auth=[("ann", "pw")])) as url:
        for path in ("/config", "/gradio_api/info"):
            assert HTTP.get(f"{url}{path}").status_code == 401, path


def test_cors_is_off_unless_configured(rag):
    from ui.serve.app import create_app

    preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    with running(create_app(rag, api_key="k", with_ui=False)) as url:
        response = _ask(url, {"Authorization": "Bearer k", "Origin": "http://localhost:3000"})
        assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
        assert "access-control-allow-origin" not in httpx.options(f"{url}/v1/chat/completions", headers=preflight).headers
    with running(create_app(rag, api_key="k", with_ui=False, cors_origins=["http://localhost:3000"])) as url:
        response = httpx.options(f"{url}/v1/chat/completions", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
        response = _ask(url, {"Authorization": "Bearer k", "Origin": "http://localhost:3000"})
        assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_the_sources_list_is_appended_when_the_setting_asks(rag):
    from rag import RAG
    from ui.serve.app import create_app

    listing = RAG(data_dir=rag.settings.data_dir, embedder=rag.embedder, sources_in_content=True)
    with running(create_app(listing, with_ui=False)) as url:
        message = _ask(url).json()["choices"][0]["message"]
    answer, sources = message["content"].split("\n\nSources:\n")
    assert answer == message["rag"]["text"]
    for line, citation in zip(sources.splitlines(), message["rag"]["citations"], strict=True):
        assert line.startswith(f"[{citation['number']}] ") and f"\u201c{citation['quote']}\u201d" in line
    listing.close()


@pytest.mark.xdist_group("served")  # on the worker that started it
def test_the_chat_ui_is_served_at_the_root(served):
    """The page, and its `ask` endpoint through gradio's HTTP API (as `curl` would call it; the
    gradio_client would hold a heartbeat stream open that delays the server's shutdown)."""
    import json

    page = HTTP.get(f"{served.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    call = HTTP.post(f"{served.url}/gradio_api/call/ask", json={"data": [GUIDE_QUESTION, None]})
    assert call.status_code == 200, call.text
    result = HTTP.get(f"{served.url}/gradio_api/call/ask/{call.json()['event_id']}", timeout=120)
    events = result.text.split("event: ")
    complete = next(e for e in events if e.startswith("complete"))
    answer = json.loads(complete.split("data: ", 1)[1])[0]
    assert answer["citations"] and "rag remove" in answer["text"]
