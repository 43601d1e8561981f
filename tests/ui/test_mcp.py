"""The MCP server as hosts use it, driven by the SDK's own client: `rag mcp` spawned over stdio,
and the streamable-HTTP app at /mcp of a FastAPI app served by uvicorn. One conversation
per transport (the same calls over both) is recorded once; each test checks one thing of it."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
from types import SimpleNamespace

import anyio
import pytest

from tests.conftest import NEWS_FR, wait_until
from tests.ui.conftest import ARTICLE_QUESTION, OFF_TOPIC_QUESTION, REPO, free_port

TOOLS = {
    "search": {"query", "k", "sources", "date_from", "date_to"},
    "ask": {"question", "sources", "date_from", "date_to"},
    "list_documents": set(),
    "read_document": {"document_id", "start", "end"},
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
    """The ASGI app of `http_app` at /mcp of a FastAPI app, as the service serves it, on a free port."""
    import uvicorn
    from fastapi import FastAPI
    from mcp import Client

    from rag import RAG
    from ui.serve.mcp import build_mcp, http_app

    with RAG(data_dir=data_dir, embedder=real_embedder) as rag:
        mcp_app = http_app(build_mcp(rag))

        @contextlib.asynccontextmanager
        async def lifespan(app):
            async with mcp_app.session_manager.run():
                yield

        app = FastAPI(lifespan=lifespan)
        app.add_route("/mcp", mcp_app)
        port = free_port()
        with serving(uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))):

            async def run():
                async with Client(f"http://127.0.0.1:{port}/mcp", mode=mode) as client:
                    return await converse(client)

            return anyio.run(run)


@contextlib.contextmanager
def serving(server):
    """``server`` (a uvicorn.Server) running in a thread, from the moment it accepts requests."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
        assert server.started, "uvicorn stopped before it started"
        yield
    finally:
        server.should_exit = True
        thread.join()


@pytest.fixture(scope="module", params=["stdio-auto", "stdio-legacy", "http-auto", "http-legacy"])
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


def test_the_four_tools_are_described_with_their_parameters(conversation):
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
