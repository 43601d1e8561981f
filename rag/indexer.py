"""Ingestion: files on disk -> loaded documents -> chunks -> vectors -> the store.

Only new and changed files are embedded. Chunks of many documents are embedded together in large
batches (the model is the cost) and handed to the store together; each file is one document
version, begun, added to and committed (or aborted) through the store's contract
(``vectorstore.store``). A large text file is read, chunked and embedded a part at a time
(``ingest.load_parts``), so memory does not grow with its size. A web page is a document whose
source is its URL, fetched into the collection's copies (``rag.webpages``) and read from there.
A bad file or page is reported with its reason and skipped; the others are ingested."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ingest import chunk_document, file_hash, iter_files, load_parts, plan_sync, streamed_suffixes
from ingest import supported_suffixes  # noqa: F401  re-exported by rag for the UI's upload check
from ingest.chunking import MAX_WORD_CHARS
from ingest.loaders import LoadError
from ingest.loaders.ocr import Ocr
from ingest.web import is_url, normalized
from vectorstore.embeddings import Embedder
from vectorstore.records import Chunk, contextual_text
from vectorstore.store import ChunkStore

from .attachments import Attachments
from .webpages import WebPages

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


class _Refused(Exception):
    """A file that cannot be loaded or chunked: ``reason`` is the report's one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Version:
    """A document version being ingested: how many chunks it has so far."""

    source: str
    doc_hash: str
    new: bool
    chunks: int = 0
    date: str | None = None  # the date of a document that has none of its own (a mail's, for its attachments)


class _Writer:
    """The queue of chunks to embed, shared by the documents of one ingest; versions whose file
    is read to the end are committed once their queued chunks are stored."""

    def __init__(self, store: ChunkStore, embedder: Embedder, report: IngestReport):
        self.store, self.embedder, self.report = store, embedder, report
        self.queue: list[Chunk] = []
        self.done: list[_Version] = []

    def begin(self, version: _Version) -> None:
        self.store.begin(version.source, version.doc_hash)

    def add(self, version: _Version, chunks: list[Chunk]) -> None:
        self.queue.extend(chunks)
        version.chunks += len(chunks)
        if len(self.queue) >= EMBED_BATCH_CHUNKS:
            self.flush()

    def drop(self, version: _Version) -> None:
        """Forget a version that failed part-way; chunks of it already stored are deleted."""
        self.queue = [c for c in self.queue if (c.source, c.doc_hash) != (version.source, version.doc_hash)]
        self.store.abort(version.source, version.doc_hash)

    def finish(self, version: _Version) -> None:
        self.done.append(version)

    def flush(self) -> None:
        """Embed and store the queued chunks, then commit the versions read to the end."""
        if self.queue:
            vectors = self.embedder.encode([contextual_text(c) for c in self.queue])
            self.store.add(self.queue, vectors.tolist())
            self.queue = []
        if self.done:
            self.store.commit([(v.source, v.doc_hash) for v in self.done])
            for v in self.done:
                (self.report.added if v.new else self.report.updated).append(v.source)
                self.report.chunks += v.chunks
            self.done = []


class Indexer:
    def __init__(self, store: ChunkStore, embedder: Embedder, *, chunk_tokens: int, overlap_tokens: int,
                 include_hidden: bool = False, max_file_bytes: int | None = None,
                 max_pdf_pages: int | None = None, ocr: Ocr | None = None,
                 attachments: Attachments | None = None, web: WebPages | None = None):
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens
        self.include_hidden = include_hidden
        self.max_file_bytes = max_file_bytes
        self.max_pdf_pages = max_pdf_pages
        self.ocr = ocr
        self.attachments = attachments  # where a mail's attachments are kept; None: not indexed
        self.web = web  # where web pages' copies are kept; None: URLs are refused

    def ingest(self, paths: Iterable[str | Path], *, prune: bool = False,
               progress: Progress | None = None, include: Iterable[str] = (),
               exclude: Iterable[str] = (), fetch: bool = True,
               hosts: tuple[str, ...] | None = None) -> IngestReport:
        """Files under ``paths`` selected by the ``include``/``exclude`` globs (see
        ``ingest.discover.matches``) are added or re-indexed; with ``prune``, documents under
        ``paths`` whose files are gone are removed. The URLs among ``paths`` are fetched again
        (only from ``hosts``, when given), or with ``fetch=False`` read from their kept copies."""
        report = IngestReport()
        urls = [p for p in paths if is_url(p)]
        paths = [p for p in paths if not is_url(p)]
        files, problems = iter_files(
            paths, include_hidden=self.include_hidden, include=include, exclude=exclude
        )
        report.failed.extend(problems)
        if self.attachments is not None:  # indexed with their mail, never on their own
            files = [f for f in files if not self.attachments.holds(f)]
        stored = {s: d.doc_hash for s, d in self.store.documents().items()}
        on_disk = self._hashed(files, report)
        pages = self._fetched(urls, fetch, hosts, stored, report)
        on_disk.update(pages)
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
            attached, date = self._index(writer, _Version(source, on_disk[source], new), report,
                                         lambda what, done=done: progress and progress(done - 1, len(todo), what))
            if progress:
                progress(done, len(todo), source)
            if self.attachments is not None and (attached or self.attachments.folder(source).exists()):
                report.removed.extend(self._drop_attachments(source))  # those of its last version
                for path in self.attachments.write(source, attached):
                    self._index(writer, _Version(str(path), file_hash(path), True, date=date), report,
                                lambda what: None)
        writer.flush()
        indexed = {*report.added, *report.updated, *report.unchanged}
        for url, version in pages.items():  # the copy of a version the store holds is kept
            (self.web.keep if url in indexed else self.web.discard)(url, version)
        for source in plan.remove:
            self.store.remove(source)
            report.removed.append(source)
            report.removed.extend(self._drop_attachments(source))
        return report

    def _hashed(self, files: list[Path], report: IngestReport) -> dict[str, str]:
        """The content hash of each file, by path; a file over the size limit or unreadable goes
        to the report."""
        hashes = {}
        for path in files:
            try:
                size = path.stat().st_size
                whole = path.suffix.lower() not in streamed_suffixes()  # read whole to load
                if whole and self.max_file_bytes is not None and size > self.max_file_bytes:
                    report.failed.append((str(path), too_large(size, self.max_file_bytes)))
                    continue
                hashes[str(path)] = file_hash(path)
            except OSError as exc:
                report.failed.append((str(path), (exc.strerror or str(exc)).lower()))
        return hashes

    def _fetched(self, urls: list[str], fetch: bool, hosts: tuple[str, ...] | None,
                 stored: dict[str, str], report: IngestReport) -> dict[str, str]:
        """The version of each page of ``urls`` now (fetched again, or the kept one), by URL;
        a page that cannot be fetched goes to the report, and its indexed version stays."""
        versions = {}
        for raw in urls:
            try:
                url = normalized(raw)
                if self.web is None:
                    raise LoadError(url, "web pages cannot be added to this index")
                version = self.web.fetch(url, hosts) if fetch else self.web.version(url)
                if version is None:
                    raise LoadError(url, "no stored copy of this web page")
                versions[url] = version
            except LoadError as exc:
                kept = " (the version indexed before is kept)" if exc.path in stored else ""
                report.failed.append((exc.path, exc.reason + kept))
        return versions

    def _index(self, writer: _Writer, version: _Version, report: IngestReport,
               reading: Callable[[str], object]) -> tuple[tuple[tuple[str, bytes], ...], str | None]:
        """Load, chunk and queue one file's version (committed with the writer's next flush);
        a refused file goes to the report. Returns the attachments its loader found, and the
        document's date (theirs when they have none)."""
        writer.begin(version)
        has_text, attached, date = False, (), None
        try:  # errors of the store and the model, in writer.add, are not the file's
            for part, chunks in self._chunked(version):
                has_text, attached = has_text or bool(part.text.strip()), attached + part.attachments
                date = part.date
                writer.add(version, chunks)
                if part.offset:  # a large file, read in parts: say how far
                    reading(f"{version.source}, {(part.offset + len(part.text)) / 1e6:.0f}M characters in")
        except _Refused as refused:
            writer.drop(version)
            report.failed.append((version.source, refused.reason))
            return (), None
        if not version.chunks:
            writer.drop(version)
            report.failed.append((version.source, "no text to index" if not has_text else
                                  f"no words to index, only runs of {MAX_WORD_CHARS}+ "
                                  "characters without a space (encoded data?)"))
            return (), None
        writer.finish(version)
        return attached, date

    def _drop_attachments(self, source: str) -> list[str]:
        """Forget the attachments stored for ``source`` (a mail), their documents and files;
        the documents removed."""
        if self.attachments is None or not self.attachments.folder(source).exists():
            return []
        folder, removed = self.attachments.folder(source), []
        for stored in sorted(self.store.documents()):
            if folder in Path(stored).parents:
                self.store.remove(stored)
                removed.append(stored)
        self.attachments.clear(source)
        return removed

    def remove(self, paths: Iterable[str | Path]) -> list[str]:
        """Remove documents by path or URL; a folder removes every document under it."""
        stored = self.store.documents()
        removed = []
        for raw in paths:
            if is_url(raw):
                removed.extend(self._remove_page(raw, stored))
                continue
            target = Path(raw).expanduser().resolve()
            for source in sorted(stored):
                if (Path(source) == target or target in Path(source).parents) and source not in removed:
                    self.store.remove(source)
                    removed.append(source)
                    removed.extend(self._drop_attachments(source))
        return removed

    def _remove_page(self, raw: str, stored) -> list[str]:
        try:
            url = normalized(raw)
        except LoadError:
            return []
        if url not in stored:
            return []
        self.store.remove(url)
        if self.web is not None:
            self.web.forget(url)
        return [url]

    def parts(self, source: str) -> Iterator[LoadedDocument]:
        """The loaded parts of the document ``source`` as indexed: a file's, or the kept copy of a
        web page."""
        if is_url(source):
            return iter([self._page(source)])
        return load_parts(source, max_pages=self.max_pdf_pages, ocr=self.ocr)

    def version(self, source: str) -> str | None:
        """The version of ``source`` now, as the store names its versions (a file's content hash,
        a web page's kept copy); None when it is gone or unreadable."""
        if is_url(source):
            return None if self.web is None else self.web.version(source)
        try:
            return file_hash(source)
        except OSError:
            return None

    def _page(self, url: str, version: str | None = None) -> LoadedDocument:
        if self.web is None:
            raise LoadError(url, "web pages cannot be read from this index")
        return self.web.document(url, version)

    def _hard_max(self, title: str | None) -> int:
        """Tokens a chunk may have so that, with its title put before it (``contextual_text``),
        it still fits the model's window: nothing is ever truncated."""
        window = self.embedder.identity.max_tokens
        if not title:
            return window
        empty, with_title = self.embedder.count_tokens(["", f"{title}\n\n"])
        return window - (with_title - empty)

    def _chunked(self, version: _Version) -> Iterator[tuple[LoadedDocument, list[Chunk]]]:
        """Each part of the file with its chunks, numbered on from the version's chunk count;
        raises _Refused when the file cannot be loaded or chunked."""
        try:
            parts = ([self._page(version.source, version.doc_hash)] if is_url(version.source)
                     else load_parts(version.source, max_pages=self.max_pdf_pages, ocr=self.ocr))
            for part in parts:
                yield part, self._chunk(part, version)
        except LoadError as exc:
            raise _Refused(exc.reason) from exc
        except Exception as exc:  # a loader's bug on one file must not stop the others
            raise _Refused(f"{type(exc).__name__}: {exc}") from exc

    def _chunk(self, part: LoadedDocument, version: _Version) -> list[Chunk]:
        if part.date is None and version.date is not None:
            part = replace(part, date=version.date)
        hard_max = self._hard_max(part.title)
        # a model with a smaller window than chunk_tokens: chunks fill the window, and the
        # overlap shrinks in proportion
        size = min(self.chunk_tokens, hard_max)
        docs = chunk_document(
            part, count_tokens=self.embedder.count_tokens, max_tokens=size,
            overlap_tokens=self.overlap_tokens * size // self.chunk_tokens,
            hard_max_tokens=hard_max, doc_hash=version.doc_hash, first_index=version.chunks,
        )
        return [_record(d) for d in docs]


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


def _record(doc: Document) -> Chunk:
    """The store's record of a chunk ``chunk_document`` made (its metadata keys, typed)."""
    m = doc.metadata
    return Chunk(source=m["source"], doc_hash=m["doc_hash"], index=m["chunk_index"],
                 text=doc.page_content, start=m["start"], end=m["end"], title=m.get("title"),
                 date=m.get("date"), language=m.get("language", "en"), page=m.get("page"),
                 section=m.get("section"))
