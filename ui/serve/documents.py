"""Documents as the service names them: a stable id for each stored source, and the exact text
of a span, so that any citation's quote can be checked by whoever received it."""

from __future__ import annotations

import hashlib
from dataclasses import asdict

from rag import RAG, RagError
from rag.collections import DEFAULT
from rag.types import Answer, Passage


class UnknownDocument(RagError):
    """No stored document has this id (the service answers 404)."""


class BadSpan(RagError):
    """Offsets that do not lie inside the document's text."""


def document_id(source: str) -> str:
    """The id of the document stored from ``source``: 16 hex digits of its path's SHA-256, the
    same for every version of the file, never a path a client could point elsewhere."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def documents(rag: RAG) -> list[dict]:
    """id, source, title, date, language and chunks of every stored document, sorted by path."""
    return [{"id": document_id(d.source), "source": d.source, "title": d.title, "date": d.date,
             "language": d.language, "chunks": d.chunks} for d in rag.sources()]


def document(rag: RAG, doc_id: str) -> dict:
    """The stored document ``doc_id`` (as ``documents`` lists it); only stored documents can be
    read, so no request reaches a file the index does not hold."""
    for d in documents(rag):
        if d["id"] == doc_id:
            return d
    raise UnknownDocument(f"no document with id {doc_id!r} (GET {api_path(rag.settings.collection)}"
                          "/documents lists them)")


def find(rag: RAG, doc_id: str) -> str:
    """The source path of the stored document ``doc_id``."""
    return document(rag, doc_id)["source"]


def span(rag: RAG, doc_id: str, start: int = 0, end: int | None = None) -> dict:
    """The extracted text of document ``doc_id`` between ``start`` and ``end`` (default: to the
    end): for a citation ``c``, ``span(rag, id, c.start, c.end)["text"] == c.quote``."""
    source = find(rag, doc_id)
    text = rag.document_text(source)
    end = len(text) if end is None else end
    if not 0 <= start <= end <= len(text):
        raise BadSpan(f"span {start}:{end} is not inside document {doc_id!r} "
                      f"(its text has {len(text)} characters)")
    return {"id": doc_id, "source": source, "start": start, "end": end, "text": text[start:end]}


def api_path(collection: str) -> str:
    """The REST prefix of a collection's routes: ``/api`` for the default one."""
    return "/api" if collection == DEFAULT else f"/api/collections/{collection}"


def span_path(source: str, start: int, end: int, collection: str = DEFAULT) -> str:
    """The REST path of a span: what a citation's URL points at."""
    return f"{api_path(collection)}/documents/{document_id(source)}/text?start={start}&end={end}"


def linked_answer(answer: Answer, base_url: str, collection: str = DEFAULT) -> dict:
    """``answer.to_dict()`` with, on each citation, its document's id and the URL of its span
    (in ``collection``)."""
    return linked(answer.to_dict(), base_url, collection)


def linked(data: dict, base_url: str, collection: str = DEFAULT) -> dict:
    """An answer's dict (``Answer.to_dict()``, as saved with a conversation) with its links."""
    data = {**data, "citations": [dict(c) for c in data["citations"]]}
    for c in data["citations"]:
        c["document_id"] = document_id(c["source"])
        c["url"] = base_url.rstrip("/") + span_path(c["source"], c["start"], c["end"], collection)
    return data


def passage_dict(passage: Passage) -> dict:
    """A retrieved passage, with its document's id."""
    return {**asdict(passage), "document_id": document_id(passage.source)}
