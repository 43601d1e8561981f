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


def ui(rag, args) -> int:
    from .app import launch

    launch(rag, host=args.host, port=args.port, share=args.share, auth=args.auth)
    return 0
