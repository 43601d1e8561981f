"""The service's one app: the chat UI at ``/``, REST under ``/api``, OpenAI's API under ``/v1``,
MCP at ``/mcp``, the OpenAPI document at ``/openapi.json`` and its page at ``/docs``.

    from rag import RAG
    from ui.serve.app import serve
    serve(RAG(data_dir="rag_data"))            # http://127.0.0.1:8000
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from starlette.routing import Match, Mount

from rag import RAG
from rag.conversations import LOCAL_USER

from . import conversations_api, errors, openai_api, rest
from .security import PROTECTED, Guard, check_exposure, is_loopback, read_keys

DESCRIPTION = """Answers from your documents that cite the exact passages they come from.

Every citation carries its document's id and the URL of its span: `GET` it for the exact text,
which equals the citation's quote. Send `Authorization: Bearer KEY` when the server has a key.
`/v1` is OpenAI-compatible (model `rag-cite`); `/mcp` serves MCP over streamable HTTP."""


def create_app(rag: RAG, *, api_key: str | dict[str, str] | None = None, ui_auth=None, host: str = "127.0.0.1",
               cors_origins: list[str] | None = None, with_ui: bool = True) -> FastAPI:
    """The app over ``rag``, to be served on ``host``. ``api_key`` guards /api, /v1 and /mcp: a
    key (the local user's) or ``{key: user}`` (without one they answer only on a loopback
    ``host``); ``ui_auth``: the chat's login, (user, password) pairs or None."""
    from .mcp import build_mcp, http_app

    mcp_app = http_app(build_mcp(rag), host=host)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with mcp_app.session_manager.run():
            yield

    app = FastAPI(title="rag-cite", description=DESCRIPTION, version="0.1.0", lifespan=lifespan)
    app.state.rag = rag
    errors.install(app)
    for router in rest.routers:
        app.include_router(router)
    app.include_router(conversations_api.router)
    app.include_router(openai_api.router)
    app.add_route("/mcp", mcp_app)
    keys = {api_key: LOCAL_USER} if isinstance(api_key, str) else api_key
    app.add_middleware(Guard, keys=keys, loopback=is_loopback(host))
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "Mcp-Session-Id",
                                          "Mcp-Protocol-Version"])
    if with_ui and (ui_auth or is_loopback(host)):
        app = _mount_ui(app, rag, ui_auth)
    elif with_ui:
        app.add_api_route("/", _chat_needs_login, include_in_schema=False)
    return app


def _chat_needs_login():
    """What ``/`` answers on a public address without a UI login: the chat (which can read,
    upload and remove documents) is not served to anyone who asks."""
    raise errors.ServiceError(403, "the chat is not served on this address without a login: "
                              "start rag serve with --auth USER:PASSWORD|@FILE", "login_required")


def _mount_ui(app: FastAPI, rag: RAG, ui_auth) -> FastAPI:
    import gradio as gr

    from ui.app import CSS, build_app, theme

    blocks = build_app(rag)
    blocks.queue(default_concurrency_limit=2)
    app = gr.mount_gradio_app(app, blocks, path="/", auth=ui_auth, theme=theme(), css=CSS,
                              footer_links=["api"])
    ui = app.router.routes[-1]  # the mount mount_gradio_app just added
    if not isinstance(ui, Mount) or ui.path != "":
        raise RuntimeError(f"gradio's mount_gradio_app added {ui!r}, not a mount at /")
    app.router.routes[-1] = _UIMount(ui.path, app=ui.app, name=ui.name)
    return app


class _UIMount(Mount):
    """The UI's mount at ``/``, which leaves the API's paths (/api, /v1, /mcp) to the API. A mount at ``/`` matches
    every path, so without this a wrong method on an API route (405) or an unknown API path (404
    in OpenAI's shape) would be answered by the UI: 404 ``{"detail": "Not Found"}``, or a gradio
    route (its legacy ``POST /api/{name}``)."""

    API_PREFIXES = PROTECTED

    def matches(self, scope):
        path = scope.get("path", "")
        if scope["type"] == "http" and any(path == p or path.startswith(p + "/") for p in self.API_PREFIXES):
            return Match.NONE, {}
        return super().matches(scope)


def serve(rag: RAG, host: str = "127.0.0.1", port: int = 8000, *, api_key: str | None = None,
          auth=None, watch: list | None = None) -> None:
    """Serve the app with uvicorn until interrupted. ``api_key``: a key or ``@FILE`` (lines
    ``user:key``, or a key alone; default: the ``api_key`` setting); ``auth``: the UI login as ``rag ui`` takes it (default:
    ``RAG_UI_AUTH``). Refuses a non-loopback ``host`` with neither. ``watch``: folders or files
    whose changes are indexed while serving (``rag.watch.Watcher``, in a background thread)."""
    import logging

    import uvicorn

    from rag.watch import Watcher
    from ui.auth import resolve_auth

    setting = rag.settings.api_key.get_secret_value() if rag.settings.api_key else None
    keys = read_keys(api_key) or read_keys(setting)
    credentials = resolve_auth(auth)
    check_exposure(host, keys, bool(credentials))
    rag.store  # loads the model and opens the index now: a broken setup fails before serving
    server_log = logging.getLogger("uvicorn.error")
    watcher = Watcher(rag, watch, on_batch=lambda line, _: server_log.info("watch: %s", line)) if watch else None
    app = create_app(rag, api_key=keys, ui_auth=credentials, host=host,
                     cors_origins=rag.settings.cors_origins)
    # a chat page holds a stream open: a stop waits for it 10 s at most, not until it is closed
    config = uvicorn.Config(app, host=host, port=port, log_level="info", server_header=False,
                            timeout_graceful_shutdown=10)  # sets up the log the watcher writes to
    if watcher:
        watcher.start()
    try:
        uvicorn.Server(config).run()
    finally:
        if watcher:
            watcher.stop(timeout=10)  # an update still running then is cut; the next write repairs it
