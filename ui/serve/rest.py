"""``/api``: the REST API, each route a few lines over the ``RAG`` object in ``app.state.rag``.

The document routes (ask, retrieve, documents, sync) serve the server's collection (the default
one) under ``/api`` and collection NAME under ``/api/collections/NAME``; ``/api/collections``
lists, creates and deletes collections.

Routes are plain functions, so FastAPI runs them in its worker threads: answering never blocks
the event loop, and a question never waits for an ingest (only writers take the data dir's lock).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi import Path as PathParam

from rag import RAG
from rag.conversations import LOCAL_USER

from . import schemas
from .documents import document, documents, find, linked_answer, passage_dict, span
from .errors import ERROR_RESPONSES, ServiceError


def the_rag(request: Request) -> RAG:
    return request.app.state.rag


def the_user(request: Request) -> str:
    """Who asks: the user the request's API key names (``ui.serve.security``); the local user
    without keys."""
    return getattr(request.state, "user", LOCAL_USER)


def your_collection(request: Request) -> RAG:
    """The server's own collection, if the access file opens it to the request's user (else 403)."""
    rag = request.app.state.rag
    return rag.collection(rag.settings.collection, the_user(request))


def a_collection(request: Request, collection: str = PathParam(
        description="A collection's name (GET /api/collections lists them).")) -> RAG:
    return request.app.state.rag.collection(collection, the_user(request))


def clean_question(text: str) -> str:
    if not text.strip():
        raise ServiceError(400, "question is empty", "empty_question", "question")
    return text.strip()


def filters_of(filters: schemas.Filters | None) -> dict | None:
    return filters.model_dump() if filters else None


def document_routes(prefix: str, the_rag: Callable[..., RAG], tags: list[str]) -> APIRouter:
    """The routes over one collection's documents, under ``prefix``, whose ``RAG`` the
    dependency ``the_rag`` gives."""
    router = APIRouter(prefix=prefix, tags=tags, responses=ERROR_RESPONSES)

    @router.post("/ask", response_model=schemas.LinkedAnswer, summary="Answer a question, citing passages")
    def ask(body: schemas.AskRequest, request: Request, rag: RAG = Depends(the_rag)):
        """The answer, its citations (each quote exactly the text of its span, which the citation's
        ``url`` returns), or an abstention when the documents do not hold the answer."""
        answer = rag.ask(clean_question(body.question), history=[t.model_dump() for t in body.history],
                         filters=filters_of(body.filters), k=body.k)
        return linked_answer(answer, str(request.base_url), rag.settings.collection)

    @router.post("/retrieve", response_model=list[schemas.Passage], summary="The passages that best match a question")
    def retrieve(body: schemas.RetrieveRequest, rag: RAG = Depends(the_rag)):
        passages = rag.retrieve(clean_question(body.question), k=body.k, filters=filters_of(body.filters))
        return [passage_dict(p) for p in passages]

    @router.get("/documents", response_model=list[schemas.Document], summary="The stored documents")
    def list_documents(rag: RAG = Depends(the_rag)):
        return documents(rag)

    @router.post("/documents", response_model=schemas.Report, summary="Upload and index files")
    def upload(files: list[UploadFile] = File(description="Files of the types docs/formats.md lists"),
               rag: RAG = Depends(the_rag)):
        """Each file is saved under a sanitised name in the collection's uploads folder (never
        outside it) and indexed; a file of the same name replaces the earlier upload. Files refused
        (type, size) or that fail to load are listed in ``failed``; the others are still indexed."""
        from ui.uploads import ingest_uploads, upload_dir

        rag.store  # an unknown collection: 404 before anything is saved
        with tempfile.TemporaryDirectory(dir=upload_dir(rag.collection_dir), prefix=".incoming-") as tmp:
            received = [(f.filename or "upload", _receive(f, Path(tmp))) for f in files]
            report, rejected = ingest_uploads(rag, received)
        return _report(report, rejected)

    @router.post("/documents/url", response_model=schemas.Report, summary="Fetch and index a web page")
    def add_page(body: schemas.AddPage, rag: RAG = Depends(the_rag)):
        """The server fetches the page on your behalf, so this is off (403) unless its ``url_allow``
        setting names the hosts pages may come from; the page and each redirect must be on one
        of them. http and https only, within the size, time and redirect limits (``url_max_mb``,
        ``url_timeout_s``, ``url_max_redirects``); the URL is the document's source. A page that
        cannot be fetched or has no main text is listed in ``failed`` with the reason."""
        if not rag.settings.url_allow:
            raise ServiceError(403, "adding web pages is off on this server (its url_allow setting "
                                    "names the hosts they may come from)", "web_pages_off", "url")
        rag.store  # an unknown collection: 404 before anything is fetched
        return _report(rag.ingest([body.url], on_behalf=True))

    @router.get("/documents/{document_id}", response_model=schemas.Document, summary="One stored document")
    def get_document(document_id: str, rag: RAG = Depends(the_rag)):
        return document(rag, document_id)

    @router.delete("/documents/{document_id}", response_model=schemas.Removed, summary="Remove a document")
    def delete_document(document_id: str, rag: RAG = Depends(the_rag)):
        """Remove the document from the index; an uploaded copy is deleted with it."""
        from ui.uploads import remove_document

        return {"removed": remove_document(rag, find(rag, document_id))}

    @router.get("/documents/{document_id}/text", response_model=schemas.Span, summary="The exact text of a span")
    def document_text(document_id: str, start: int = Query(0, ge=0), end: int | None = Query(None, ge=0),
                      rag: RAG = Depends(the_rag)):
        """The document's extracted text from ``start`` to ``end`` (default: its end), the text that
        citation offsets index: a citation's quote equals the text of its span."""
        return span(rag, document_id, start, end)

    @router.post("/sync", response_model=schemas.Report, summary="Re-index changed files, drop deleted ones")
    def sync(rag: RAG = Depends(the_rag)):
        return _report(rag.sync())

    return router


def _receive(upload: UploadFile, folder: Path) -> str:
    fd, path = tempfile.mkstemp(dir=folder)
    with os.fdopen(fd, "wb") as out:
        while block := upload.file.read(2**20):
            out.write(block)
    return path


def _report(report, rejected=()) -> dict:
    failed = [{"name": n, "reason": r} for n, r in [*rejected, *report.failed]]
    return {"added": report.added, "updated": report.updated, "unchanged": report.unchanged,
            "removed": report.removed, "failed": failed, "chunks": report.chunks}


collections = APIRouter(prefix="/api/collections", tags=["collections"], responses=ERROR_RESPONSES)


@collections.get("", response_model=list[schemas.Collection], summary="Your collections, with their counts")
def list_collections(rag: RAG = Depends(the_rag), user: str = Depends(the_user)):
    """The collections open to you (the access file may restrict some to other users)."""
    return [vars(c) for c in rag.collections(user)]


@collections.post("", response_model=schemas.Collection, status_code=201, summary="Create an empty collection")
def create_collection(body: schemas.NewCollection, rag: RAG = Depends(the_rag)):
    return vars(rag.create_collection(body.name))


@collections.delete("/{collection}", response_model=schemas.Removed, summary="Delete a collection")
def delete_collection(collection: str, rag: RAG = Depends(the_rag), user: str = Depends(the_user)):
    """Its index and uploaded copies are deleted; ``removed`` lists the documents it held (their
    own files stay). The default collection cannot be deleted, nor one not open to you."""
    rag.collection(collection, user)
    return {"removed": rag.delete_collection(collection)}


health = APIRouter(prefix="/api", tags=["rag"], responses=ERROR_RESPONSES)


@health.get("/health", response_model=schemas.Health, summary="Whether the index answers")
def service_health(rag: RAG = Depends(your_collection)):
    docs = rag.sources()
    return {"status": "ok", "documents": len(docs), "chunks": sum(d.chunks for d in docs)}


routers = [health, collections, document_routes("/api", your_collection, ["rag"]),
           document_routes("/api/collections/{collection}", a_collection, ["collections"])]
"""In the order the app includes them."""
