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

    c = commands.add("serve", serve, "serve the chat UI, the REST API, an OpenAI-compatible API "
                     "and MCP over HTTP, in one process (see docs/serve.md)")
    c.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: 127.0.0.1; any other needs --api-key or --auth)")
    c.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    c.add_argument("--api-key", metavar="KEY|@FILE",
                   help="key clients send as 'Authorization: Bearer KEY' on /api, /v1 and /mcp "
                        "(default: RAG_API_KEY if set); @FILE: a key a line, 'user:key' to name "
                        "the user whose conversations it reaches")
    c.add_argument("--auth", metavar="USER:PASSWORD|@FILE",
                   help="require a login for the chat UI (default: RAG_UI_AUTH if set)")
    c.add_argument("--watch", action="append", default=[], metavar="PATH",
                   help="keep the index in step with this folder or file while serving, as `rag "
                        "watch PATH` does (repeatable)")


def serve(rag, args) -> int:
    from .serve.app import serve

    serve(rag, host=args.host, port=args.port, api_key=args.api_key, auth=args.auth, watch=args.watch)
    return 0


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
