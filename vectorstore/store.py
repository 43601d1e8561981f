"""Chunks and their vectors in Chroma, with the keyword index kept in step.

The collection's metadata records the embedder identity and the chunking settings it was built
with; opening it with other ones fails with the fix. A document's chunks carry its ``doc_hash``;
a document's chunk 0 also carries its title, date, language and chunk count, and is written last,
so the set of chunk-0 records is the list of completely stored documents.

Against a Chroma server (``RetryingClient``), calls are retried while it restarts, and several
processes, each with its own keyword index, share one collection: the keyword index records the
version (collection id and content hash) of each document it holds, and ``sync_keyword`` brings
it in step with the chunk-0 records, at most every ``sync_interval`` seconds.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .embeddings import EmbedderIdentity
from .keyword import KeywordIndex

log = logging.getLogger(__name__)

COLLECTION = "chunks"
_PAGE = 2000
_WRITE_BATCH = 1000  # chunks per upsert (Chroma's own limit is several thousand)
_SYNC_BATCH = 100  # documents whose chunks are read from Chroma in one query when syncing

RETRY_SECONDS = 30.0
"""How long the calls to a Chroma server that does not answer are retried, in all."""
KEYWORD_SYNC_SECONDS = 5.0
"""Against a server: how old the keyword index's last check against Chroma may be at a query."""


class StoreMismatchError(RuntimeError):
    """The store was built with another embedder or other chunking settings."""


class ChromaUnavailableError(RuntimeError):
    """The Chroma server does not answer; the message names it and how to start it."""


class RetryingClient:
    """A chromadb client, or a collection got from it, whose calls are retried while the server
    does not answer (a restart): after 0.25 s, then twice as long each time up to 8 s, for
    ``RETRY_SECONDS`` in all; then ``ChromaUnavailableError(down_message)``. The store's calls
    (get, query, upsert, delete) are idempotent, so repeating one that was applied is harmless."""

    def __init__(self, inner, down_message: str):
        self._inner = inner
        self.down_message = down_message

    def __getattr__(self, name: str):
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            from chromadb.api.models.Collection import Collection

            result = self._retry(value, args, kwargs)
            return RetryingClient(result, self.down_message) if isinstance(result, Collection) else result

        return call

    def _retry(self, fn, args, kwargs):
        import httpx

        started, delay = time.monotonic(), 0.25
        while True:
            try:
                return fn(*args, **kwargs)
            except httpx.TransportError as exc:
                waited = time.monotonic() - started
                if waited + delay > RETRY_SECONDS:
                    raise ChromaUnavailableError(f"{self.down_message} (retried for {waited:.0f} s)") from exc
                log.warning("the Chroma server did not answer (%s); retrying in %.2f s", exc, delay)
                time.sleep(delay)
                delay = min(2 * delay, 8.0)


@dataclass(frozen=True)
class StoredDocument:
    source: str
    doc_hash: str
    title: str | None
    date: str | None
    language: str | None
    chunks: int


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    metadata: dict
    score: float


def contextual_text(text: str, metadata: dict) -> str:
    """What is embedded and keyword-indexed for a chunk: its document's title, then the chunk.
    A passage read out of context ("Il a été élu en 1995.") is found through its document's
    subject; the stored, returned and cited text stays the chunk alone."""
    title = metadata.get("title")
    if not title or title in text[: len(title) + 64]:
        return text
    return f"{title}\n\n{text}"


def date_number(date: str, *, upper: bool = False) -> int:
    """'2021-12' -> 20211200 (or 20211299 as an upper bound); '2021-12-05' -> 20211205."""
    parts = [int(p) for p in date.split("-")]
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"bad date {date!r}: expected YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = (parts + [None, None])[:3]
    month = month if month is not None else (99 if upper else 0)
    day = day if day is not None else (99 if upper else 0)
    return year * 10000 + month * 100 + day


def chroma_where(sources: list[str] | None, date_from: str | None, date_to: str | None) -> dict | None:
    clauses: list[dict] = []
    if sources:
        clauses.append({"source": {"$in": list(sources)}})
    if date_from:
        clauses.append({"date_num": {"$gte": date_number(date_from)}})
    if date_to:
        clauses.append({"date_num": {"$lte": date_number(date_to, upper=True)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChunkStore:
    """Chroma collection + keyword index, written together.

    ``client`` is any chromadb client (``PersistentClient`` by default, ``HttpClient`` for a
    server); ``keyword_path`` is the SQLite file of the BM25 index. With ``sync_interval`` (other
    processes write to the same Chroma), the keyword index is checked against Chroma on first use
    and then whenever its last check is older than that many seconds."""

    def __init__(self, client, keyword_path: Path, identity: EmbedderIdentity, chunking: dict,
                 *, sync_interval: float | None = None):
        self.client = client
        self.identity = identity
        self.chunking = dict(chunking)
        expected = {**identity.as_metadata(), **{f"chunking_{k}": v for k, v in self.chunking.items()}}
        collection = client.get_or_create_collection(
            COLLECTION, metadata=expected, configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        _check_compatible(collection.metadata or {}, expected, identity)
        self.collection = collection
        self._keyword = KeywordIndex(keyword_path)
        self._collection_id = str(collection.id)
        self.sync_interval = sync_interval
        self._synced_at = -math.inf
        self._sync_lock = threading.Lock()

    @property
    def keyword(self) -> KeywordIndex:
        """The BM25 index, first brought in step with Chroma when a check is due (see above)."""
        if self.sync_interval is not None and time.monotonic() - self._synced_at >= self.sync_interval:
            self.sync_keyword()
        return self._keyword

    def close(self) -> None:
        self._keyword.close()

    def _version(self, doc_hash: str) -> str:
        """What the keyword index records for a document: after ``rag reindex`` (a new collection)
        the same file has another version."""
        return f"{self._collection_id}:{doc_hash}"

    # -- reading ---------------------------------------------------------------------------
    def documents(self) -> dict[str, StoredDocument]:
        out = {}
        for _, meta, _ in self._scan(where={"chunk_index": 0}):
            out[meta["source"]] = StoredDocument(
                source=meta["source"], doc_hash=meta["doc_hash"], title=meta.get("title"),
                date=meta.get("date"), language=meta.get("language"), chunks=meta.get("n_chunks", 0),
            )
        return out

    def dense_search(self, embedding: list[float], k: int, where: dict | None) -> list[Hit]:
        if k <= 0:
            return []
        res = self.collection.query(
            query_embeddings=[embedding], n_results=k, where=where,
            include=["documents", "metadatas", "distances"],
        )
        hits = [
            Hit(i, doc, meta, 1.0 - dist)
            for i, doc, meta, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]
            )
        ]
        # chunks of a version still being written (a large file streamed in) are already in
        # Chroma: while the keyword index records another version of their document, skip them
        indexed = self.keyword.versions({h.metadata["source"] for h in hits})
        return [h for h in hits if indexed.get(h.metadata["source"]) in
                (None, self._version(h.metadata["doc_hash"]))]

    def get(self, ids: list[str]) -> dict[str, Hit]:
        if not ids:
            return {}
        res = self.collection.get(ids=ids, include=["documents", "metadatas"])
        return {i: Hit(i, d, m, 0.0) for i, d, m in zip(res["ids"], res["documents"], res["metadatas"])}

    def count(self) -> int:
        return self.collection.count()

    # -- writing ---------------------------------------------------------------------------
    def write_chunks(self, ids: list[str], embeddings: list, texts: list[str],
                     metadatas: list[dict]) -> None:
        """Store chunks of versions being written, all but their chunk 0: they count only once
        ``commit_documents`` has stored it (see ``documents`` and ``repair``), so a crash, or a
        document streamed in over many calls, never leaves a version that counts half-written.
        Many chunks go in a few large calls: Chroma costs ~9 ms a call on top of its cost per
        chunk, most of the writing time when documents are short."""
        self._upsert(ids, embeddings, texts, metadatas)

    def _upsert(self, ids: list[str], embeddings: list, texts: list[str], metadatas: list[dict]) -> None:
        for start in range(0, len(ids), _WRITE_BATCH):
            end = start + _WRITE_BATCH
            self.collection.upsert(ids=ids[start:end], embeddings=embeddings[start:end],
                                   documents=texts[start:end], metadatas=metadatas[start:end])

    def commit_documents(self, ids: list[str], embeddings: list, texts: list[str],
                         metadatas: list[dict]) -> None:
        """Complete versions whose other chunks ``write_chunks`` stored: store their chunk 0s
        (these), keyword-index the versions from Chroma in one transaction, then drop every
        other version of their documents."""
        if not ids:
            return
        self._upsert(ids, embeddings, texts, metadatas)
        stale = self._keyword_index({m["source"]: m["doc_hash"] for m in metadatas})
        for start in range(0, len(stale), _PAGE):
            self.collection.delete(ids=stale[start : start + _PAGE])

    def _keyword_index(self, current: dict[str, str]) -> list[str]:
        """Make the keyword index hold exactly the chunks of these versions (source -> content
        hash), read from Chroma a page at a time; returns the ids of the sources' other versions."""
        stale: list[str] = []

        def chunks() -> Iterator[tuple[str, str, dict]]:
            for i, meta, text in self._scan(where={"source": {"$in": list(current)}}, text=True):
                if meta["doc_hash"] == current[meta["source"]]:
                    yield i, contextual_text(text, meta), meta
                else:
                    stale.append(i)

        self._keyword.replace_sources(
            {source: self._version(doc_hash) for source, doc_hash in current.items()}, chunks()
        )
        return stale

    def discard_version(self, source: str, doc_hash: str) -> None:
        """Delete the stored chunks of a version that will not be committed (its file failed
        part-way through)."""
        self.collection.delete(where={"$and": [{"source": source}, {"doc_hash": doc_hash}]})

    def remove_document(self, source: str) -> None:
        self.collection.delete(where={"source": source})
        self._keyword.delete_where_source(source)

    def repair(self) -> tuple[int, int]:
        """Remove chunks of incomplete or superseded versions and bring the keyword index back in
        step with Chroma. Returns (chunks removed from Chroma, keyword entries changed)."""
        complete = {d.source: d.doc_hash for d in self.documents().values()}
        stale = [i for i, m, _ in self._scan() if complete.get(m["source"]) != m["doc_hash"]]
        for start in range(0, len(stale), _PAGE):
            self.collection.delete(ids=stale[start : start + _PAGE])
        written, deleted = self._keyword.sync_from(
            ((i, contextual_text(text, meta), meta) for i, meta, text in self._scan(text=True)),
            versions={source: self._version(h) for source, h in complete.items()},
        )
        return len(stale), written + deleted

    def sync_keyword(self) -> int:
        """Bring the keyword index in step with Chroma's complete documents, as other processes
        wrote them: index those whose version it lacks, drop those Chroma no longer lists. Costs
        one read of the chunk-0 records, plus the chunks of the documents that differ. Returns how
        many documents changed here. (A concurrent call in this process returns 0 at once.)"""
        if not self._sync_lock.acquire(blocking=False):
            return 0
        try:
            self._synced_at = time.monotonic()
            complete = self.documents()
            local = self._keyword.versions()
            gone = sorted(local.keys() - complete.keys())
            for source in gone:
                self._keyword.delete_where_source(source)
            todo = [d for s, d in sorted(complete.items()) if local.get(s) != self._version(d.doc_hash)]
            pulled = sum(self._pull(todo[i : i + _SYNC_BATCH]) for i in range(0, len(todo), _SYNC_BATCH))
            return len(gone) + pulled
        finally:
            self._sync_lock.release()

    def _pull(self, docs: list[StoredDocument]) -> int:
        """Keyword-index these documents from their chunks in Chroma; a document whose chunks are
        not all there (being replaced or removed right now) is left for the next check."""
        wanted = {d.source: d for d in docs}
        found = Counter(
            meta["source"] for _, meta, _ in self._scan(where={"source": {"$in": list(wanted)}})
            if meta["doc_hash"] == wanted[meta["source"]].doc_hash
        )
        complete = {s: d.doc_hash for s, d in wanted.items() if found[s] == d.chunks}
        if complete:
            self._keyword_index(complete)
        return len(complete)

    def _scan(self, where: dict | None = None, *, text: bool = False) -> Iterator[tuple[str, dict, str | None]]:
        """Every matching record as (id, metadata, text or None), read page by page."""
        include = ["metadatas", "documents"] if text else ["metadatas"]
        offset = 0
        while True:
            res = self.collection.get(where=where, include=include, limit=_PAGE, offset=offset)
            texts = res["documents"] if text else [None] * len(res["ids"])
            yield from zip(res["ids"], res["metadatas"], texts)
            if len(res["ids"]) < _PAGE:
                return
            offset += _PAGE


def _check_compatible(found: dict, expected: dict, identity: EmbedderIdentity) -> None:
    built_with = EmbedderIdentity.from_metadata(found)
    if built_with is not None and built_with != identity:
        raise StoreMismatchError(
            f"This data dir was indexed with the embedding model '{built_with.name}' "
            f"(weights {built_with.weights_sha256[:12]}, {built_with.dimension} dimensions), but the "
            f"current setting is '{identity.name}' (weights {identity.weights_sha256[:12]}, "
            f"{identity.dimension} dimensions); vectors of two models cannot be mixed. Run "
            f"`rag reindex` to rebuild the index with the current model, or set "
            f"embedding_model='{built_with.name}' to keep using the old one."
        )
    chunk_keys = {k for k in expected if k.startswith("chunking_")}
    changed = {k[9:]: (found.get(k), expected[k]) for k in chunk_keys if found.get(k) != expected[k]}
    if built_with is not None and changed:
        detail = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in sorted(changed.items()))
        raise StoreMismatchError(
            f"This data dir was chunked with other settings ({detail}). Run `rag reindex` to "
            "re-chunk and re-embed every document, or restore the old settings."
        )
