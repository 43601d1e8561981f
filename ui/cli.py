"""The commands that start an interface, registered into ``rag``'s CLI (the ``rag_cite.commands``
entry point in pyproject.toml), so that ``rag/`` never imports ``ui/``."""

from __future__ import annotations

import argparse

MCP_EPILOG = """The host starts this command itself and talks to it over stdin/stdout (logs go to
stderr). In the host's MCP configuration, e.g. Claude Desktop's claude_desktop_config.json:

  {"mcpServers": {"rag": {"command": "rag",
                          "args": ["--data-dir", "/path/to/rag_data", "mcp"]}}}

Give the absolute path of `rag` (`which rag`) if the host does not find it, and the data dir
the documents were ingested into (`rag --data-dir DIR ingest ...`). See docs/mcp.md."""


def register(commands) -> None:
    c = commands.add("ui", ui, "open the web chat (with sources panel and document upload)")
    c.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    c.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    c.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    c.add_argument("--auth", metavar="USER:PASSWORD|@FILE",
                   help="require a login (default: RAG_UI_AUTH if set; @FILE: user:password lines)")

    c = commands.add("mcp", mcp, "serve the documents to an MCP host (Claude Desktop, an IDE...) "
                     "over stdio: tools search, ask, list_documents, read_document")
    c.epilog = MCP_EPILOG
    c.formatter_class = argparse.RawDescriptionHelpFormatter


def ui(rag, args) -> int:
    from .app import launch

    launch(rag, host=args.host, port=args.port, share=args.share, auth=args.auth)
    return 0


def mcp(rag, args) -> int:
    import logging
    import sys

    from .serve.mcp import serve_stdio

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="rag mcp: %(levelname)s %(name)s: %(message)s")
    serve_stdio(rag)
    return 0
