"""Turning files into LangChain Documents: loaders, chunking, discovery and sync planning.

Names are imported on first use (PEP 562), so `import ingest` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "LoadedDocument": "ingest.loaders",
    "LoadError": "ingest.loaders",
    "calendar_date": "ingest.loaders",
    "load": "ingest.loaders",
    "load_parts": "ingest.loaders",
    "streamed_suffixes": "ingest.loaders",
    "register": "ingest.loaders",
    "supported_suffixes": "ingest.loaders",
    "split_sentences": "ingest.chunking",
    "chunk_spans": "ingest.chunking",
    "chunk_document": "ingest.chunking",
    "iter_files": "ingest.discover",
    "content_hash": "ingest.discover",
    "file_hash": "ingest.discover",
    "detect_language": "ingest.language",
    "SyncPlan": "ingest.sync",
    "plan_sync": "ingest.sync",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ingest.chunking import chunk_document, chunk_spans, split_sentences
    from ingest.discover import content_hash, file_hash, iter_files
    from ingest.language import detect_language
    from ingest.loaders import (
        LoadedDocument, LoadError, calendar_date, load, load_parts, register, streamed_suffixes,
        supported_suffixes,
    )
    from ingest.sync import SyncPlan, plan_sync


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ingest' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
