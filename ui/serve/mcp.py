"""The MCP server of the product (the official ``mcp`` SDK, v2): five tools over one ``RAG``, for
desktop hosts over stdio (``rag mcp``) and for the service over streamable HTTP (``/mcp``).

Tools: ``search`` (passages), ``ask`` (an answer whose [n] markers are its citations, or an
abstention), ``list_documents``, ``read_document`` (the exact text of a span, so a quote can be
checked) and ``list_collections``; the first four take a ``collection`` (default: the server's). Their results are pydantic models (``ui.serve.mcp_results``): the SDK publishes them as
output schemas and sends each result both as structured content and as JSON text.

The SDK runs a synchronous tool in a worker thread (``anyio.to_thread.run_sync``, in
``FuncMetadata.call_fn``), so the tools below are plain functions and the CPU-bound RAG calls never
block the event loop."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Annotated, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import ToolAnnotations
from pydantic import Field

from rag import RAG
from rag.conversations import LOCAL_USER
from rag.errors import EXPECTED

from .documents import UnknownDocument, document_id, documents, passage_dict, span
from .security import is_loopback
from .mcp_results import Answer, CollectionList, DocumentList, SearchResult, Span
from .schemas import COLLECTION_NAME

log = logging.getLogger(__name__)

INSTRUCTIONS = """Answers from the user's own documents, with exact citations. Use `ask` for an \
answer: its [n] markers refer to its citations, each quoting a document word for word; when \
`abstained` is true the documents do not hold the answer, so say so rather than answer from \
elsewhere. Use `search` for the raw passages, `list_documents` for what is indexed, and \
`read_document` to read a document or check that a quote is the document's text at its offsets. \
The documents may be split into collections (`list_collections`); each tool takes one by name."""

Query = Annotated[str, Field(min_length=1, pattern=r"\S", description="what to look for: words or "
                             "a question, in any language of the documents")]
Question = Annotated[str, Field(min_length=1, pattern=r"\S", description="the question, in any "
                                "language of the documents")]
Sources = Annotated[list[str] | None, Field(
    description="only these documents: their document ids or source paths, as list_documents "
                "gives them (default: all)")]
DATE = r"^\d{4}(-\d{2}(-\d{2})?)?$"
DateFrom = Annotated[str | None, Field(pattern=DATE, description="only documents dated on or after "
                                       "this date: YYYY, YYYY-MM or YYYY-MM-DD (default: no limit)")]
DateTo = Annotated[str | None, Field(pattern=DATE, description="only documents dated on or before "
                                     "this date: YYYY, YYYY-MM or YYYY-MM-DD (default: no limit)")]
K = Annotated[int, Field(ge=1, le=50, description="how many passages to return")]
InCollection = Annotated[str | None, Field(pattern=COLLECTION_NAME, description="the collection of "
                         "documents to use, as list_collections names them (default: the server's)")]
DocId = Annotated[str, Field(min_length=1, description="a document id, from list_documents, "
                             "search (document_id) or ask (citations[].document_id)")]
Start = Annotated[int, Field(ge=0, description="where to start reading: an offset into the "
                             "document's text (a citation's or passage's start)")]
End = Annotated[int | None, Field(ge=0, description="where to stop (exclusive): a citation's or "
                                  "passage's end (default: the end of the document)")]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)
F = TypeVar("F", bound=Callable)


def build_mcp(rag: RAG) -> MCPServer:
    """The MCP server whose tools answer from ``rag``'s documents (it does not close ``rag``)."""
    server = MCPServer("rag-cite", title="Cited answers from your documents",
                       instructions=INSTRUCTIONS, log_level="WARNING")

    def search(ctx: Context, query: Query, k: K = 5, sources: Sources = None, date_from: DateFrom = None,
               date_to: DateTo = None, collection: InCollection = None) -> SearchResult:
        """The passages of the documents that best match `query`, best first: each with its
        document (document_id, source, title, date), page, the start and end offsets of its
        text in the document, the exact text and a retrieval score. No answer is written: use
        `ask` for that."""
        chosen = _collection(rag, collection, ctx)
        filters = _filters(chosen, sources, date_from, date_to)
        passages = chosen.retrieve(query, k=k, filters=filters)
        return {"passages": [passage_dict(p) for p in passages]}

    def ask(ctx: Context, question: Question, sources: Sources = None, date_from: DateFrom = None,
            date_to: DateTo = None, collection: InCollection = None) -> Answer:
        """Answer `question` from the documents. The answer's text carries markers [1], [2]…
        that refer to its citations by number; each citation quotes a document exactly (quote
        == the document's text between start and end, which read_document returns). When
        `abstained` is true the documents do not hold the answer: there are no citations, and
        the answer should not be given from elsewhere as if they did."""
        chosen = _collection(rag, collection, ctx)
        answer = chosen.ask(question, filters=_filters(chosen, sources, date_from, date_to)).to_dict()
        for c in answer["citations"]:
            c["document_id"] = document_id(c["source"])
        return answer

    def list_documents(ctx: Context, collection: InCollection = None) -> DocumentList:
        """Every indexed document: its id (for read_document and the sources filter), source
        path, title, date, language and number of passages, sorted by path."""
        return {"documents": documents(_collection(rag, collection, ctx))}

    def list_collections(ctx: Context) -> CollectionList:
        """The collections of documents open to you (each a separate index: search, ask,
        list_documents and read_document take one by name), with their numbers of documents and
        passages."""
        return {"collections": [vars(c) for c in rag.collections(_user(ctx))]}

    def read_document(ctx: Context, document_id: DocId, start: Start = 0, end: End = None,
                      collection: InCollection = None) -> Span:
        """The exact text of document `document_id` between offsets `start` and `end` (default:
        the whole document). With a citation's document_id, start and end it returns the
        citation's quote, which is how a quote is checked."""
        try:
            return span(_collection(rag, collection, ctx), document_id, start, end)
        except UnknownDocument:
            raise ToolError(f"no document with id {document_id!r}: list_documents gives the ids "
                            "of the indexed documents") from None

    for tool, title in ((search, "Search passages"), (ask, "Answer with citations"),
                        (list_documents, "List documents"), (list_collections, "List collections"),
                        (read_document, "Read a document")):
        server.add_tool(_reported(tool), title=title, description=inspect.cleandoc(tool.__doc__),
                        annotations=READ_ONLY, structured_output=True)
    return server


def _reported(tool: F) -> F:
    """``tool`` whose expected failures (``rag.errors.EXPECTED``) reach the client as a tool
    error with their message, and anything else (a bug) as "internal error", its traceback
    logged here and never sent."""

    @functools.wraps(tool)
    def run(*args, **kwargs):
        try:
            return tool(*args, **kwargs)
        except ToolError:
            raise
        except EXPECTED as exc:
            raise ToolError(str(exc)) from exc
        except Exception:
            log.exception("MCP tool %s failed", tool.__name__)
            raise ToolError("internal error (the server's log has the details)") from None

    return run


def _user(ctx: Context) -> str:
    """Who calls: over HTTP, the user of the request's API key (``ui.serve.security``); over
    stdio, or without keys, the local user."""
    request = ctx.request_context.request
    return getattr(getattr(request, "state", None), "user", LOCAL_USER)


def _collection(rag: RAG, name: str | None, ctx: Context) -> RAG:
    """Collection ``name`` (default: the server's), if it is open to the caller."""
    return rag.collection(name or rag.settings.collection, _user(ctx))


def _filters(rag: RAG, sources: list[str] | None, date_from: str | None,
             date_to: str | None) -> dict:
    """The ``rag.retriever.Filters`` fields; a source given by its document id becomes its path."""
    if sources:
        by_id = {document_id(d.source): d.source for d in rag.sources()}
        sources = [by_id.get(s, s) for s in sources]
    return {"sources": sources or [], "date_from": date_from, "date_to": date_to}


# -- streamable HTTP ------------------------------------------------------------------------------


def http_app(server: MCPServer, *, host: str = "127.0.0.1") -> StreamableHTTPASGIApp:
    """The streamable-HTTP ASGI app of ``server``, which answers whatever its path: route the
    exact path /mcp to it (a mount at /mcp would only match /mcp/..., and Starlette would
    answer every request to /mcp with a 307 to /mcp/ first)::

        mcp_app = http_app(build_mcp(rag), host=host)

        @contextlib.asynccontextmanager
        async def lifespan(app):
            async with mcp_app.session_manager.run():  # the task group requests run in
                yield

        app = FastAPI(lifespan=lifespan)
        app.add_route("/mcp", mcp_app)                # every method (POST, GET, DELETE)

    Without the running session manager a request fails ("Task group is not initialized");
    ``run()`` can be entered only once per ``http_app`` call, so build a new app for each start.
    A Bearer check on /mcp belongs in a middleware (route dependencies do not reach it).

    Stateless (no session id: any request can go to any worker, nothing to expire) with plain
    JSON responses instead of an SSE stream (the tools send no progress notifications). ``host``
    is the address the service binds: on a loopback one, the SDK refuses requests whose Host or
    Origin header is not a loopback one (its DNS-rebinding protection); elsewhere they are not
    checked, the Bearer key being the guard."""
    security = None
    if not is_loopback(host):
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    # builds server.session_manager; of the Starlette app it returns only the endpoint is kept
    server.streamable_http_app(stateless_http=True, json_response=True,
                               transport_security=security, host=host)
    return StreamableHTTPASGIApp(server.session_manager)


# -- stdio ----------------------------------------------------------------------------------------
def serve_stdio(rag: RAG) -> None:
    """Serve ``rag`` over stdin/stdout until the host closes stdin. While it runs the SDK points
    fd 1 at stderr, so stray prints (ours or a library's) cannot corrupt the protocol."""
    build_mcp(rag).run("stdio")
