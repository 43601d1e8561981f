"""The store: chunks and their vectors in Chroma, with the keyword index kept in step. This module
alone knows how a document version is written, committed, listed, checked and repaired, and how
a ``Chunk`` maps to Chroma's metadata (``_metadata``/``_chunk``).

A document version is written as ``begin`` -> ``add`` (its chunks, in any number of calls,
batched with other versions') -> ``commit`` (or ``abort``). Every chunk carries its version's
``doc_hash``; chunk 0, held back by ``add``, is written by ``commit`` with the version's chunk
count once all the others are stored, so the set of chunk-0 records is the list of completely
stored documents: a crash never leaves a version that counts half-written (``repair`` drops what
it left). The collection's metadata records the embedder identity and the chunking settings it
was built with; opening it with other ones fails with the fix (``reset`` starts over).

Against a Chroma server (``vectorstore.retrying.RetryingClient``), calls are retried while it
restarts, and several processes, each with its own keyword index, share one collection: the
keyword index records the version (collection id and content hash) of each document it holds,
and ``sync_keyword`` brings it in step with the chunk-0 records, at most every
``sync_interval`` seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .embeddings import EmbedderIdentity
from .errors import UnknownCollection, check_compatible
from .keyword import KeywordIndex
from .records import Chunk, Health, Hit, StoredDocument, contextual_text

COLLECTION = "chunks"
"""The Chroma collection of the default collection; collection NAME's is ``chunks-NAME``."""
DEFAULT = "default"
_PAGE = 2000
_WRITE_BATCH = 1000  # chunks per upsert (Chroma's own limit is several thousand)
_SYNC_BATCH = 100  # documents whose chunks are read from Chroma in one query when syncing

KEYWORD_SYNC_SECONDS = 5.0
"""Against a server: how old the keyword index's last check against Chroma may be at a query."""


_OPTIONAL = ("title", "date", "page", "section")


def _metadata(chunk: Chunk, n_chunks: int | None = None) -> dict:
    """A chunk as Chroma metadata (no None values: Chroma refuses them); ``date_num`` serves
    date filters, ``n_chunks`` (chunk 0 only) says the version is complete."""
    meta = {"source": chunk.source, "doc_hash": chunk.doc_hash, "chunk_index": chunk.index,
            "start": chunk.start, "end": chunk.end, "language": chunk.language}
    meta.update({k: getattr(chunk, k) for k in _OPTIONAL if getattr(chunk, k) is not None})
    if chunk.date:
        meta["date_num"] = date_number(chunk.date)
    if n_chunks is not None:
        meta["n_chunks"] = n_chunks
    return meta


def _chunk(text: str, meta: dict) -> Chunk:
    return Chunk(source=meta["source"], doc_hash=meta["doc_hash"], index=meta["chunk_index"],
                 text=text, start=meta["start"], end=meta["end"],
                 language=meta.get("language", "en"), **{k: meta.get(k) for k in _OPTIONAL})


def date_number(date: str, *, upper: bool = False) -> int:
    """'2021-12' -> 20211200 (or 20211299 as an upper bound); '2021-12-05' -> 20211205. The
    date is one the caller validated (``rag.Filters``, the loaders' header parsing)."""
    year, month, day = ([int(p) for p in date.split("-")] + [None, None])[:3]
    month = month if month is not None else (99 if upper else 0)
    day = day if day is not None else (99 if upper else 0)
    return year * 10000 + month * 100 + day


def _where(sources: Sequence[str] | None, date_from: str | None, date_to: str | None) -> dict | None:
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
                 *, sync_interval: float | None = None, collection: str = DEFAULT, create: bool = True):
        self.client = client
        self.identity = identity
        self.chunking = dict(chunking)
        self.name = collection
        if not create and collection not in self.names(client):
            raise UnknownCollection(collection)
        expected = {**identity.as_metadata(), **{f"chunking_{k}": v for k, v in self.chunking.items()}}
        collection = client.get_or_create_collection(
            _chroma_name(collection), metadata=expected, configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        check_compatible(collection.metadata or {}, expected, identity)
        self.collection = collection
        self._keyword = KeywordIndex(keyword_path)
        self._collection_id = str(collection.id)
        self.sync_interval = sync_interval
        self._synced_at = -math.inf
        self._sync_lock = threading.Lock()
        self._open: dict[tuple[str, str], _Open] = {}

    @classmethod
    def reset(cls, client, keyword_path: Path, collection: str = DEFAULT) -> list[str]:
        """Delete the collection and the keyword index, whatever model or chunking built them
        (``rag reindex``, deleting a collection); returns the sources of the documents they
        held, sorted."""
        sources: list[str] = []
        if collection in cls.names(client):
            first = client.get_collection(_chroma_name(collection)).get(where={"chunk_index": 0},
                                                                       include=["metadatas"])
            sources = sorted({m["source"] for m in first["metadatas"]})
            client.delete_collection(_chroma_name(collection))
        for path in keyword_path.parent.glob(f"{keyword_path.name}*"):  # with its WAL files
            path.unlink()
        return sources

    @staticmethod
    def names(client) -> list[str]:
        """The collections stored in Chroma, sorted (the default one once it has been opened)."""
        found = [c if isinstance(c, str) else c.name for c in client.list_collections()]
        return sorted(DEFAULT if n == COLLECTION else n[len(COLLECTION) + 1:]
                      for n in found if n == COLLECTION or n.startswith(COLLECTION + "-"))

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
        """The completely stored documents, by source."""
        out = {}
        for _, meta, _ in self._scan(where={"chunk_index": 0}):
            out[meta["source"]] = StoredDocument(
                source=meta["source"], doc_hash=meta["doc_hash"], title=meta.get("title"),
                date=meta.get("date"), language=meta.get("language"), chunks=meta.get("n_chunks", 0),
            )
        return out

    def dense_search(self, vector: Sequence[float], k: int, *, sources: Sequence[str] | None = None,
                     date_from: str | None = None, date_to: str | None = None) -> list[Hit]:
        """The ``k`` chunks nearest ``vector`` (score: cosine similarity), restricted to
        ``sources`` and to dates in [date_from, date_to] (validated 'YYYY[-MM[-DD]]')."""
        if k <= 0:
            return []
        res = self.collection.query(
            query_embeddings=[[float(x) for x in vector]], n_results=k, where=_where(sources, date_from, date_to),
            include=["documents", "metadatas", "distances"],
        )
        hits = [Hit(_chunk(text, meta), 1.0 - dist) for text, meta, dist in
                zip(res["documents"][0], res["metadatas"][0], res["distances"][0])]
        # chunks of a version still being written (a large file streamed in) are already in
        # Chroma: while the keyword index records another version of their document, skip them
        indexed = self.keyword.versions({h.chunk.source for h in hits})
        return [h for h in hits if indexed.get(h.chunk.source) in (None, self._version(h.chunk.doc_hash))]

    def keyword_search(self, query: str, k: int, *, language: str | None = None,
                       sources: Sequence[str] | None = None, date_from: str | None = None,
                       date_to: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` best (chunk id, BM25 score) for ``query``, analysed with ``language``'s
        rules (both French and English when None), with the filters of ``dense_search``."""
        return self.keyword.search(query, k, sources=list(sources) if sources else None,
                                   date_from=date_from, date_to=date_to, language=language)

    def get(self, ids: list[str]) -> dict[str, Chunk]:
        if not ids:
            return {}
        res = self.collection.get(ids=ids, include=["documents", "metadatas"])
        return {i: _chunk(t, m) for i, t, m in zip(res["ids"], res["documents"], res["metadatas"])}

    def chunks(self, source: str, doc_hash: str) -> list[Chunk]:
        """Every stored chunk of one version of a document, in text order."""
        where = {"$and": [{"source": source}, {"doc_hash": doc_hash}]}
        return sorted((_chunk(t, m) for _, m, t in self._scan(where=where, text=True)),
                      key=lambda c: (c.start, c.index))

    def count(self) -> int:
        return self.collection.count()

    # -- writing a version -----------------------------------------------------------------
    def begin(self, source: str, doc_hash: str) -> None:
        """Open a version of ``source`` (its content hash ``doc_hash``) for ``add``."""
        self._open[source, doc_hash] = _Open()

    def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Store chunks of open versions with their vectors; they count only once ``commit``
        has stored their version's chunk 0, held back until then. Many chunks go in a few large
        calls: Chroma costs ~9 ms a call on top of its cost per chunk, most of the writing time
        when documents are short."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        now = []
        for chunk, vector in zip(chunks, vectors):
            version = self._open.get((chunk.source, chunk.doc_hash))
            if version is None:
                raise ValueError(f"{chunk.source}: no open version {chunk.doc_hash[:12]} (begin it first)")
            version.added += 1
            if chunk.index == 0:
                version.first = (chunk, list(vector))
            else:
                now.append((chunk, vector, None))
        self._upsert(now)

    def commit(self, versions: Iterable[tuple[str, str]]) -> None:
        """Complete these open (source, doc_hash) versions: store their chunk 0s with their chunk
        counts, keyword-index the versions from Chroma in one transaction, then drop every other
        version of their documents."""
        firsts = []
        for key in versions:
            version = self._open.pop(key)
            if version.first is None:
                raise ValueError(f"{key[0]}: version {key[1][:12]} has no chunk 0 to commit")
            firsts.append((*version.first, version.added))
        if not firsts:
            return
        self._upsert(firsts)
        stale = self._keyword_index({c.source: c.doc_hash for c, _, _ in firsts})
        for start in range(0, len(stale), _PAGE):
            self.collection.delete(ids=stale[start : start + _PAGE])

    def abort(self, source: str, doc_hash: str) -> None:
        """Forget an open version that will not be committed (its file failed part-way), deleting
        the chunks of it already stored."""
        version = self._open.pop((source, doc_hash), None)
        if version is not None and version.added > (version.first is not None):  # some in Chroma
            self.collection.delete(where={"$and": [{"source": source}, {"doc_hash": doc_hash}]})

    def remove(self, source: str) -> None:
        """Forget a document: every version of it, in Chroma and in the keyword index."""
        self.collection.delete(where={"source": source})
        self._keyword.delete_where_source(source)

    def _upsert(self, rows: list[tuple[Chunk, Sequence[float], int | None]]) -> None:
        """(chunk, vector, n_chunks or None) rows, a batch of ``_WRITE_BATCH`` per call."""
        for start in range(0, len(rows), _WRITE_BATCH):
            batch = rows[start : start + _WRITE_BATCH]
            self.collection.upsert(
                ids=[c.id for c, _, _ in batch], embeddings=[list(v) for _, v, _ in batch],
                documents=[c.text for c, _, _ in batch],
                metadatas=[_metadata(c, n) for c, _, n in batch],
            )

    def _keyword_index(self, current: dict[str, str]) -> list[str]:
        """Make the keyword index hold exactly the chunks of these versions (source -> content
        hash), read from Chroma a page at a time; returns the ids of the sources' other versions."""
        stale: list[str] = []

        def entries() -> Iterator[tuple[str, str, dict]]:
            for i, meta, text in self._scan(where={"source": {"$in": list(current)}}, text=True):
                if meta["doc_hash"] == current[meta["source"]]:
                    yield i, contextual_text(_chunk(text, meta)), meta
                else:
                    stale.append(i)

        self._keyword.replace_sources(
            {source: self._version(doc_hash) for source, doc_hash in current.items()}, entries()
        )
        return stale

    # -- checking and repairing ------------------------------------------------------------
    def check(self) -> Health:
        """How Chroma and the keyword index stand against the rules above (see ``Health``)."""
        health = Health()
        stored: dict[str, dict[str, dict[int, str]]] = {}
        sizes: dict[tuple[str, str], int] = {}
        for i, meta, _ in self._scan():
            versions = stored.setdefault(meta["source"], {})
            versions.setdefault(meta["doc_hash"], {})[meta["chunk_index"]] = i
            if meta["chunk_index"] == 0:
                sizes[meta["source"], meta["doc_hash"]] = meta.get("n_chunks", 0)
        good: set[str] = set()
        for source, versions in sorted(stored.items()):
            complete = sorted(h for h in versions if (source, h) in sizes)
            for doc_hash, got in versions.items():
                if doc_hash in complete:
                    good.update(got.values())
                else:
                    health.orphans += len(got)
                    health.orphan_versions += 1
            if len(complete) > 1:
                health.versions[source] = complete
            elif complete:
                got, want = versions[complete[0]], sizes[source, complete[0]]
                if set(got) != set(range(want)):
                    health.incomplete[source] = (len(got), want)
        keyword = self._keyword.ids()
        health.keyword_missing, health.keyword_extra = len(good - keyword), len(keyword - good)
        return health

    def repair(self, keep: dict[str, str] | None = None) -> tuple[int, int]:
        """Remove chunks of incomplete or superseded versions and bring the keyword index back in
        step with Chroma. ``keep``: for sources stored in several complete versions, the content
        hash of the one to keep (the others are dropped; without it, the last listed is kept).
        Returns (chunks removed from Chroma, keyword entries changed)."""
        complete = {d.source: d.doc_hash for d in self.documents().values()}
        complete.update((s, h) for s, h in (keep or {}).items() if s in complete)
        stale = [i for i, m, _ in self._scan() if complete.get(m["source"]) != m["doc_hash"]]
        for start in range(0, len(stale), _PAGE):
            self.collection.delete(ids=stale[start : start + _PAGE])
        written, deleted = self._keyword.sync_from(
            ((i, contextual_text(_chunk(text, meta)), meta) for i, meta, text in self._scan(text=True)),
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


@dataclass
class _Open:
    """A version between ``begin`` and ``commit``: chunks added, and its chunk 0 (with its
    vector), held back; the others are in Chroma."""

    added: int = 0
    first: tuple[Chunk, list[float]] | None = None


def _chroma_name(collection: str) -> str:
    return COLLECTION if collection == DEFAULT else f"{COLLECTION}-{collection}"
