"""The MCP server as hosts use it, driven by the SDK's own client: `rag mcp` spawned over stdio,
and the streamable-HTTP app at /mcp of a FastAPI app served by uvicorn. One conversation
per transport (the same calls over both) is recorded once; each test checks one thing of it."""

from __future__ import annotations

import os
import shutil
import sys
from types import SimpleNamespace

import anyio
import pytest

from tests.conftest import NEWS_FR
from tests.ui.conftest import ARTICLE_QUESTION, OFF_TOPIC_QUESTION, REPO, running

TOOLS = {
    "search": {"query", "k", "sources", "date_from", "date_to", "collection"},
    "ask": {"question", "sources", "date_from", "date_to", "collection"},
    "list_documents": {"collection"},
    "read_document": {"document_id", "start", "end", "collection"},
    "list_collections": set(),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, real_embedder):
    """A data dir holding the test article (tests/data/news-fr), ingested once for the module."""
    from rag import RAG

    root = tmp_path_factory.mktemp("mcp")
    shutil.copytree(NEWS_FR, root / "docs")
    with RAG(data_dir=root / "data", embedder=real_embedder) as rag:
        report = rag.ingest([root / "docs"])
    assert report.added and not report.failed
    return root / "data"


async def converse(client) -> SimpleNamespace:
    """What a host does: list the tools, ask, check each quote with read_document, search and
    resolve each passage's offsets, ask off-corpus, read an unknown document."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    answer = await client.call_tool("ask", {"question": ARTICLE_QUESTION})
    quoted = [await read(client, c) for c in answer.structured_content["citations"]]
    search = await client.call_tool("search", {"query": ARTICLE_QUESTION, "k": 3})
    passages = [await read(client, p) for p in search.structured_content["passages"]]
    listed = await client.call_tool("list_documents", {})
    off_topic = await client.call_tool("ask", {"question": OFF_TOPIC_QUESTION})
    unknown = await client.call_tool("read_document", {"document_id": "0123456789abcdef"})
    return SimpleNamespace(protocol=client.protocol_version, tools=tools, answer=answer,
                           quoted=quoted, search=search, passages=passages, listed=listed,
                           off_topic=off_topic, unknown=unknown)


async def read(client, where: dict):
    return await client.call_tool("read_document", {"document_id": where["document_id"],
                                                    "start": where["start"], "end": where["end"]})


def over_stdio(data_dir, log_path, mode: str) -> SimpleNamespace:
    """`python -m rag --data-dir DIR mcp` as a host spawns it (its stderr kept in a log file)."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODEL_CACHE_DIR"}
    params = StdioServerParameters(command=sys.executable, cwd=REPO, env=env,
                                   args=["-m", "rag", "--data-dir", str(data_dir), "mcp"])

    async def run():
        with open(log_path, "w") as log:
            async with Client(stdio_client(params, errlog=log), mode=mode) as client:
                return await converse(client)

    return anyio.run(run)


def over_http(data_dir, real_embedder, mode: str) -> SimpleNamespace:
    """/mcp of the service's app (``create_app``), served by uvicorn on a free loopback port."""
    from mcp import Client

    from rag import RAG
    from ui.serve.app import create_app

    with RAG(data_dir=data_dir, embedder=real_embedder) as rag, running(create_app(rag, with_ui=False)) as url:

        async def run():
            async with Client(f"{url}/mcp", mode=mode) as client:
                return await converse(client)

        return anyio.run(run)


@pytest.fixture(scope="module", params=[  # over stdio a `rag mcp` process each, loading the model:
    pytest.param("stdio-auto", marks=pytest.mark.slow),  # slow; the same calls over HTTP are fast
    pytest.param("stdio-legacy", marks=pytest.mark.slow), "http-auto", "http-legacy"])
def conversation(request, data_dir, real_embedder, tmp_path_factory):
    """``auto``: the client probes for the 2026 protocol (which this SDK speaks); ``legacy``: the
    initialize handshake of the 2025 protocols, which most hosts speak today."""
    transport, mode = request.param.split("-")
    if transport == "stdio":
        talk = over_stdio(data_dir, tmp_path_factory.mktemp("mcp-stdio") / "stderr.log", mode)
    else:
        talk = over_http(data_dir, real_embedder, mode)
    talk.mode = mode
    return talk


def text_of(result) -> str:
    return "".join(block.text for block in result.content)


def test_the_protocol_is_the_one_the_client_asked_for(conversation):
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

    versions = MODERN_PROTOCOL_VERSIONS if conversation.mode == "auto" else HANDSHAKE_PROTOCOL_VERSIONS
    assert conversation.protocol in versions


def test_the_tools_are_described_with_their_parameters(conversation):
    assert set(conversation.tools) == set(TOOLS)
    for name, parameters in TOOLS.items():
        tool = conversation.tools[name]
        assert tool.description and len(tool.description) > 40, name
        assert set(tool.input_schema["properties"]) == parameters, name
        assert all(p.get("description") for p in tool.input_schema["properties"].values()), name
        assert tool.output_schema["type"] == "object", name
    assert "[1]" in conversation.tools["ask"].description
    assert "abstained" in conversation.tools["ask"].description
    assert conversation.tools["search"].input_schema["required"] == ["query"]


def test_ask_cites_quotes_that_read_document_returns(conversation):
    answer = conversation.answer
    assert not answer.is_error, text_of(answer)
    data = answer.structured_content
    assert not data["abstained"] and data["citations"]
    assert "immédiatement après" in data["text"]
    for citation, read in zip(data["citations"], conversation.quoted, strict=True):
        assert f"[{citation['number']}]" in data["text"]
        assert not read.is_error, text_of(read)
        assert read.structured_content["text"] == citation["quote"]


def test_search_passages_offsets_resolve_to_their_text(conversation):
    passages = conversation.search.structured_content["passages"]
    assert passages and len(passages) <= 3
    assert passages[0]["source"].endswith("2021-12-pourparlers-otan.txt")
    for passage, read in zip(passages, conversation.passages, strict=True):
        assert read.structured_content["text"] == passage["text"]


def test_list_documents_gives_the_ids_citations_use(conversation):
    documents = conversation.listed.structured_content["documents"]
    assert [d["date"] for d in documents] == ["2021-12"]
    assert {c["document_id"] for c in conversation.answer.structured_content["citations"]} == {
        documents[0]["id"]}


def test_an_off_corpus_question_abstains_without_citations(conversation):
    data = conversation.off_topic.structured_content
    assert not conversation.off_topic.is_error
    assert data["abstained"] is True and data["citations"] == []


def test_an_unknown_document_is_a_tool_error_naming_it(conversation):
    result = conversation.unknown
    assert result.is_error
    assert "no document with id '0123456789abcdef'" in text_of(result)
    assert "list_documents" in text_of(result)


class BrokenRag:
    """Stands in for a RAG whose search crashes (a bug) and whose answers meet a bad filter."""

    settings = SimpleNamespace(collection="default")

    def collection(self, name, user=None):
        return self

    def retrieve(self, *args, **kwargs):
        raise RuntimeError("secret detail of the crash")

    def ask(self, *args, **kwargs):
        from rag.errors import FilterError

        raise FilterError("date_from: '2021-02-30' is not a date like 2024, 2024-03 or 2024-03-15")


def test_expected_errors_keep_their_message_and_bugs_say_internal_error(caplog):
    from mcp import Client

    from ui.serve.mcp import build_mcp

    async def run():
        async with Client(build_mcp(BrokenRag())) as client:
            return (await client.call_tool("search", {"query": "x"}),
                    await client.call_tool("ask", {"question": "x"}))

    crash, expected = anyio.run(run)
    assert crash.is_error and "internal error" in text_of(crash)
    assert "secret" not in text_of(crash)
    assert "secret detail of the crash" in caplog.text  # the traceback stays in the server's log
    assert expected.is_error and "'2021-02-30' is not a date" in text_of(expected)


def test_help_says_how_to_configure_a_host(capsys):
    from rag.cli import main

    with pytest.raises(SystemExit):
        main(["mcp", "--help"])
    out = capsys.readouterr().out
    assert '"mcpServers"' in out and '"--data-dir", "/path/to/rag_data", "mcp"' in out


@pytest.mark.xdist_group("served")  # on the worker that started it
def test_rag_serve_answers_mcp_with_its_key_only(served):
    """/mcp of a real `rag serve`: the Bearer key opens it, as for /api and /v1."""
    from mcp import Client
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async def run(headers):
        # the first answer of a fresh server embeds its passages' sentences: no 5 s default timeout
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(300)) as http:
            async with Client(streamable_http_client(f"{served.url}/mcp", http_client=http)) as client:
                tools = await client.list_tools()
                answer = await client.call_tool("ask", {"question": ARTICLE_QUESTION})
                return {t.name for t in tools.tools}, answer.structured_content

    names, answer = anyio.run(run, served.headers())
    assert names == set(TOOLS) and answer["citations"] and not answer["abstained"]
