"""The chat's named endpoints for ``gradio_client`` (``/ask``, ``/ingest``, ``/sources``), each
over the collection the request's user may use (``rag``'s own), as the page's own handlers."""

from __future__ import annotations

import logging
from collections.abc import Callable

import gradio as gr

from rag import RAG

from .render import error_message

log = logging.getLogger("ui.app")


def add_api_endpoints(chosen: Callable[[str | None, gr.Request], RAG], ingest_files: Callable) -> None:
    """Add the endpoints to the Blocks being built (hidden components carry their data):
    ``chosen(None, request)`` is the request user's collection, ``ingest_files(files, request)``
    indexes uploads into it."""

    def api_ask(question: str, filters: dict | None, request: gr.Request) -> dict:
        """Answer a question from the documents. filters: {"sources": [abs paths],
        "date_from": "YYYY[-MM[-DD]]", "date_to": ...}. Returns text, abstained, query and
        citations (number, source, title, date, page, start, end, quote, score)."""
        if not (question or "").strip():
            raise gr.Error("question is empty")
        try:
            return chosen(None, request).ask(question.strip(), filters=filters or None).to_dict()
        except Exception as exc:
            log.exception("answering %r failed", question)
            raise gr.Error(f"Could not answer: {error_message(exc)}", print_exception=False) from None

    def api_ingest(files, request: gr.Request) -> dict:
        try:
            report, rejected = ingest_files(files, request)
        except Exception as exc:
            log.exception("ingest failed")
            raise gr.Error(f"Indexing failed: {error_message(exc)}", print_exception=False) from None
        return {"added": report.added, "updated": report.updated, "unchanged": report.unchanged,
                "removed": report.removed, "chunks": report.chunks,
                "failed": [{"file": n, "reason": r} for n, r in rejected]
                + [{"file": p, "reason": r} for p, r in report.failed]}

    def api_sources(request: gr.Request) -> list[dict]:
        """The indexed documents: source, title, date, language, chunks."""
        try:
            docs = chosen(None, request).sources()
        except Exception as exc:
            raise gr.Error(f"Could not list the documents: {error_message(exc)}", print_exception=False) from None
        return [{"source": d.source, "title": d.title, "date": d.date, "language": d.language,
                 "chunks": d.chunks} for d in docs]

    with gr.Row(visible=False):
        api_question = gr.Textbox(label="question")
        api_filters = gr.JSON(label="filters")
        api_answer = gr.JSON(label="answer")
        api_files = gr.File(file_count="multiple", label="files")
        api_report = gr.JSON(label="report")
        api_docs = gr.JSON(label="documents")
        ask_btn, ingest_btn, sources_btn = gr.Button(), gr.Button(), gr.Button()
    ask_btn.click(api_ask, [api_question, api_filters], api_answer, api_name="ask")
    ingest_btn.click(api_ingest, [api_files], api_report, api_name="ingest")
    sources_btn.click(api_sources, None, api_docs, api_name="sources")
