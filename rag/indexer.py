"""Ingestion: files on disk -> loaded documents -> chunks -> vectors -> the store.

Only new and changed files are embedded. Chunks of many documents are embedded together in large
batches (the model is the cost) and written together (``ChunkStore.write_chunks``); a document
counts once its chunk 0, held back until all its other chunks are stored, is committed
(``ChunkStore.commit_documents``). A large text file is read, chunked and embedded a part at a
time (``ingest.load_parts``), so memory does not grow with its size. A bad file is reported with
its reason and skipped; the others are ingested."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ingest import chunk_document, file_hash, iter_files, load_parts, plan_sync, streamed_suffixes
from ingest import supported_suffixes  # noqa: F401  re-exported by rag for the UI's upload check
from ingest.chunking import MAX_WORD_CHARS
from ingest.loaders import LoadError
from vectorstore.store import contextual_text, date_number

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from ingest.loaders import LoadedDocument

Progress = Callable[[int, int, str], None]
"""progress(done, total, what): called as files are processed, and as a large one is."""

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


class _Refused(Exception):
    """A file that cannot be loaded or chunked: ``reason`` is the report's one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Version:
    """A document version being written: chunks are queued part by part, embedded and stored a
    batch at a time, except chunk 0, held until the others are stored."""

    source: str
    doc_hash: str
    new: bool
    chunks: int = 0  # chunked so far
    stored: int = 0  # stored, or held (chunk 0)
    done: bool = False  # every part chunked
    has_text: bool = False  # some part had more than whitespace
    first: tuple | None = None  # chunk 0: (id, vector, text, metadata)


class _Writer:
    """The queue of chunks to embed, shared by the documents of one ingest."""

    def __init__(self, store, embedder, report: IngestReport):
        self.store, self.embedder, self.report = store, embedder, report
        self.queue: list[tuple[_Version, Document]] = []
        self.open: list[_Version] = []

    def add(self, version: _Version, docs: list[Document]) -> None:
        if docs and version not in self.open:
            self.open.append(version)
        self.queue.extend((version, d) for d in docs)
        version.chunks += len(docs)
        if len(self.queue) >= EMBED_BATCH_CHUNKS:
            self.flush()

    def drop(self, version: _Version) -> None:
        """Forget a version that failed part-way; chunks of it already stored are deleted."""
        self.queue = [(v, d) for v, d in self.queue if v is not version]
        if version in self.open:
            self.open.remove(version)
        if version.stored > (version.first is not None):
            self.store.discard_version(version.source, version.doc_hash)

    def flush(self) -> None:
        """Embed and store the queued chunks, then commit the versions now complete."""
        if self.queue:
            texts = [contextual_text(d.page_content, d.metadata) for _, d in self.queue]
            vectors = self.embedder.encode(texts).tolist()
            rest: list[tuple] = []
            for (version, doc), vector in zip(self.queue, vectors):
                index = doc.metadata["chunk_index"]
                chunk = (chunk_id(version.source, version.doc_hash, index), vector,
                         doc.page_content, _chunk_metadata(doc.metadata))
                if index == 0:
                    version.first = chunk
                else:
                    rest.append(chunk)
                version.stored += 1
            self.queue.clear()
            if rest:
                self.store.write_chunks(*map(list, zip(*rest)))
        ready = [v for v in self.open if v.done and v.stored == v.chunks]
        if not ready:
            return
        firsts = [(*v.first[:3], {**v.first[3], "n_chunks": v.chunks}) for v in ready]
        self.store.commit_documents(*map(list, zip(*firsts)))
        for v in ready:
            self.open.remove(v)
            (self.report.added if v.new else self.report.updated).append(v.source)
            self.report.chunks += v.chunks


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
                whole = path.suffix.lower() not in streamed_suffixes()  # read whole to load
                if whole and self.max_file_bytes is not None and size > self.max_file_bytes:
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
        writer = _Writer(self.store, self.embedder, report)
        for done, (source, new) in enumerate(todo, 1):
            version = _Version(source, on_disk[source], new)
            try:  # errors of the store and the model, in writer.add, are not the file's
                for part, docs in self._chunked(version):
                    version.has_text = version.has_text or bool(part.text.strip())
                    writer.add(version, docs)
                    if progress and part.offset:  # a large file, read in parts: say how far
                        read = (part.offset + len(part.text)) / 1e6
                        progress(done - 1, len(todo), f"{source}, {read:.0f}M characters in")
            except _Refused as refused:
                writer.drop(version)
                report.failed.append((source, refused.reason))
                continue
            if not version.chunks:
                report.failed.append((source, "no text to index" if not version.has_text else
                                      f"no words to index, only runs of {MAX_WORD_CHARS}+ "
                                      "characters without a space (encoded data?)"))
                continue
            version.done = True
            if progress:
                progress(done, len(todo), source)
        writer.flush()
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

    def _chunked(self, version: _Version) -> Iterator[tuple[LoadedDocument, list[Document]]]:
        """Each part of the file with its chunks, numbered on from the version's chunk count;
        raises _Refused when the file cannot be loaded or chunked."""
        try:
            for part in load_parts(version.source, max_pages=self.max_pdf_pages):
                yield part, self._chunk(part, version)
        except LoadError as exc:
            raise _Refused(exc.reason) from exc
        except Exception as exc:  # a loader's bug on one file must not stop the others
            raise _Refused(f"{type(exc).__name__}: {exc}") from exc

    def _chunk(self, part: LoadedDocument, version: _Version) -> list[Document]:
        hard_max = self._hard_max(part.title)
        # a model with a smaller window than chunk_tokens: chunks fill the window, and the
        # overlap shrinks in proportion
        size = min(self.chunk_tokens, hard_max)
        return chunk_document(
            part, count_tokens=self.embedder.count_tokens, max_tokens=size,
            overlap_tokens=self.overlap_tokens * size // self.chunk_tokens,
            hard_max_tokens=hard_max, doc_hash=version.doc_hash, first_index=version.chunks,
        )


def document_text(source: str | Path, start: int = 0, end: int | None = None) -> str:
    """The extracted text a document's offsets index (for .txt/.md the file's decoded content,
    for PDF its pages' text, for HTML and DOCX the text taken out of them), or its
    ``[start:end]`` slice: while the file is unchanged,
    ``document_text(c.source, c.start, c.end) == c.quote`` for every citation ``c``. A slice of
    a large text file is read a part at a time, keeping only what it needs. Raises
    ``ingest.loaders.LoadError`` (a ``reason`` naming the file) when it cannot be read."""
    pieces = []
    for part in load_parts(Path(source)):
        first, last = part.offset, part.offset + len(part.text)
        if end is not None and first >= end:
            break
        if last > start:
            pieces.append(part.text[max(start - first, 0) : None if end is None else end - first])
    return "".join(pieces)


def too_large(size: int, limit: int) -> str:
    """The reason given for a file read whole (not text) over the size limit (``max_file_mb``)."""
    return f"too large ({size / 2**20:.3g} MB > {limit / 2**20:.3g} MB limit)"


def _chunk_metadata(meta: dict) -> dict:
    out = dict(meta)
    if meta.get("date"):
        out["date_num"] = date_number(meta["date"])
    return out
