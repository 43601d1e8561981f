"""Offline-first RAG with exact citations. ``from rag import RAG`` is the whole API.

Imports stay light: the heavy parts (torch, chromadb, the model) load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = [
    "RAG", "Answer", "Citation", "Passage", "Settings", "IngestReport", "Filters", "RagError",
    "supported_suffixes", "document_text",
]

if TYPE_CHECKING:
    from .api import RAG
    from .errors import RagError
    from .indexer import IngestReport, document_text, supported_suffixes
    from .retriever import Filters
    from .settings import Settings
    from .types import Answer, Citation, Passage

_WHERE = {
    "RAG": "api", "Answer": "types", "Citation": "types", "Passage": "types",
    "Settings": "settings", "IngestReport": "indexer", "Filters": "retriever",
    "supported_suffixes": "indexer", "document_text": "indexer", "RagError": "errors",
}


def __getattr__(name: str):
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
