"""Ingestion: files on disk -> loaded documents -> chunks -> vectors -> the store.

Only new and changed files are embedded. Chunks of many documents are embedded together in large
batches (the model is the cost) and written together (``ChunkStore.replace_documents``). A bad file
is reported with its reason and skipped; the others are ingested."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest import chunk_document, file_hash, iter_files, load, plan_sync
from ingest import supported_suffixes  # noqa: F401  re-exported by rag for the UI's upload check
from ingest.chunking import MAX_WORD_CHARS
from ingest.loaders import LoadError
from vectorstore.store import DocumentChunks, contextual_text, date_number

Progress = Callable[[int, int, str], None]
"""progress(done, total, what): called as files are processed."""

EMBED_BATCH_CHUNKS = 256


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0


def chunk_id(source: str, doc_hash: str, index: int) -> str:
    return f"{hashlib.sha1(source.encode()).hexdigest()[:12]}-{doc_hash[:12]}-{index:05d}"


@dataclass
class _Pending:
    source: str
    doc_hash: str
    new: bool
    documents: list


class Indexer:
    def __init__(self, store, embedder, *, chunk_tokens: int, overlap_tokens: int,
                 include_hidden: bool = False, max_file_bytes: int | None = None,
                 max_pdf_pages: int | None = None):
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens
        self.include_hidden = include_hidden
        self.max_file_bytes = max_file_bytes
        self.max_pdf_pages = max_pdf_pages

    def ingest(self, paths: Iterable[str | Path], *, prune: bool = False,
               progress: Progress | None = None, include: Iterable[str] = (),
               exclude: Iterable[str] = ()) -> IngestReport:
        """Files under ``paths`` selected by the ``include``/``exclude`` globs (see
        ``ingest.discover.matches``) are added or re-indexed; with ``prune``, documents under
        ``paths`` whose files are gone are removed."""
        report = IngestReport()
        paths = list(paths)
        files, problems = iter_files(
            paths, include_hidden=self.include_hidden, include=include, exclude=exclude
        )
        report.failed.extend(problems)
        stored = {s: d.doc_hash for s, d in self.store.documents().items()}
        on_disk: dict[str, str] = {}
        for path in files:
            try:
                size = path.stat().st_size
                if self.max_file_bytes is not None and size > self.max_file_bytes:
                    report.failed.append((str(path), too_large(size, self.max_file_bytes)))
                    continue
                on_disk[str(path)] = file_hash(path)
            except OSError as exc:
                report.failed.append((str(path), (exc.strerror or str(exc)).lower()))
        roots = [Path(p).expanduser().resolve() for p in paths]
        in_scope = {
            s: h for s, h in stored.items()
            if s in on_disk or (prune and not os.path.exists(s)
                                and any(Path(s) == r or r in Path(s).parents for r in roots))
        }
        plan = plan_sync(on_disk, in_scope, prune=prune)
        report.unchanged.extend(plan.unchanged)
        todo = [(s, True) for s in plan.add] + [(s, False) for s in plan.update]
        pending: list[_Pending] = []
        for done, (source, new) in enumerate(todo, 1):
            try:
                doc = load(source, max_pages=self.max_pdf_pages)
                hard_max = self._hard_max(doc.title)
                # a model with a smaller window than chunk_tokens: chunks fill the window, and
                # the overlap shrinks in proportion
                size = min(self.chunk_tokens, hard_max)
                docs = chunk_document(
                    doc, count_tokens=self.embedder.count_tokens, max_tokens=size,
                    overlap_tokens=self.overlap_tokens * size // self.chunk_tokens,
                    hard_max_tokens=hard_max, doc_hash=on_disk[source],
                )
            except LoadError as exc:
                report.failed.append((source, exc.reason))
                continue
            except Exception as exc:  # a loader's bug on one file must not stop the others
                report.failed.append((source, f"{type(exc).__name__}: {exc}"))
                continue
            if not docs:
                report.failed.append((source, "no text to index" if not doc.text.strip() else
                                      f"no words to index, only runs of {MAX_WORD_CHARS}+ "
                                      "characters without a space (encoded data?)"))
                continue
            pending.append(_Pending(source, on_disk[source], new, docs))
            if sum(len(p.documents) for p in pending) >= EMBED_BATCH_CHUNKS:
                self._flush(pending, report)
            if progress:
                progress(done, len(todo), source)
        self._flush(pending, report)
        for source in plan.remove:
            self.store.remove_document(source)
            report.removed.append(source)
        return report

    def remove(self, paths: Iterable[str | Path]) -> list[str]:
        """Remove documents by path; a folder removes every document under it."""
        stored = self.store.documents()
        removed = []
        for raw in paths:
            target = Path(raw).expanduser().resolve()
            for source in sorted(stored):
                if Path(source) == target or target in Path(source).parents:
                    self.store.remove_document(source)
                    removed.append(source)
        return removed

    def _hard_max(self, title: str | None) -> int:
        """Tokens a chunk may have so that, with its title put before it (``contextual_text``),
        it still fits the model's window: nothing is ever truncated."""
        window = self.embedder.identity.max_tokens
        if not title:
            return window
        empty, with_title = self.embedder.count_tokens(["", f"{title}\n\n"])
        return window - (with_title - empty)

    def _flush(self, pending: list[_Pending], report: IngestReport) -> None:
        if not pending:
            return
        texts = [contextual_text(d.page_content, d.metadata) for p in pending for d in p.documents]
        vectors = self.embedder.encode(texts).tolist()
        versions, offset = [], 0
        for p in pending:
            n = len(p.documents)
            versions.append(DocumentChunks(
                p.source, p.doc_hash, [chunk_id(p.source, p.doc_hash, i) for i in range(n)],
                vectors[offset : offset + n], [d.page_content for d in p.documents],
                [_chunk_metadata(d.metadata, n) for d in p.documents],
            ))
            offset += n
        self.store.replace_documents(versions)
        for p in pending:
            (report.added if p.new else report.updated).append(p.source)
            report.chunks += len(p.documents)
        pending.clear()


def document_text(source: str | Path) -> str:
    """The extracted text a document's offsets index (for .txt/.md the file's decoded content,
    for PDF its pages' text, for HTML and DOCX the text taken out of them): while the file is
    unchanged, ``document_text(c.source)[c.start:c.end] == c.quote`` for every citation ``c``.
    Raises ``ingest.loaders.LoadError`` (a ``reason`` naming the file) when it cannot be read."""
    return load(Path(source)).text


def too_large(size: int, limit: int) -> str:
    """The reason given for a file over the size limit (``max_file_mb``)."""
    return f"too large ({size / 2**20:.3g} MB > {limit / 2**20:.3g} MB limit)"


def _chunk_metadata(meta: dict, n_chunks: int) -> dict:
    out = dict(meta)
    if meta.get("date"):
        out["date_num"] = date_number(meta["date"])
    if meta.get("chunk_index") == 0:
        out["n_chunks"] = n_chunks
    return out
