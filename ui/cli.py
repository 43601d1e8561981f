"""The commands that start an interface, registered into ``rag``'s CLI (the ``rag_cite.commands``
entry point in pyproject.toml), so that ``rag/`` never imports ``ui/``."""

from __future__ import annotations


def register(commands) -> None:
    c = commands.add("ui", ui, "open the web chat (with sources panel and document upload)")
    c.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    c.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    c.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    c.add_argument("--auth", metavar="USER:PASSWORD|@FILE",
                   help="require a login (default: RAG_UI_AUTH if set; @FILE: user:password lines)")


    c = commands.add("serve", serve, "serve the chat UI, the REST API, an OpenAI-compatible API "
                     "and MCP over HTTP, in one process (see docs/serve.md)")
    c.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: 127.0.0.1; any other needs --api-key or --auth)")
    c.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    c.add_argument("--api-key", metavar="KEY|@FILE",
                   help="key clients send as 'Authorization: Bearer KEY' on /api, /v1 and /mcp "
                        "(default: RAG_API_KEY if set; @FILE: the file's first line)")
    c.add_argument("--auth", metavar="USER:PASSWORD|@FILE",
                   help="require a login for the chat UI (default: RAG_UI_AUTH if set)")


def serve(rag, args) -> int:
    from .serve.app import serve

    serve(rag, host=args.host, port=args.port, api_key=args.api_key, auth=args.auth)
    return 0


def ui(rag, args) -> int:
    from .app import launch

    launch(rag, host=args.host, port=args.port, share=args.share, auth=args.auth)
    return 0
