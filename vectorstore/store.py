"""Chunks and their vectors in Chroma, with the keyword index kept in step.

The collection's metadata records the embedder identity and the chunking settings it was built
with; opening it with other ones fails with the fix. A document's chunks carry its ``doc_hash``;
a document's chunk 0 also carries its title, date, language and chunk count, and is written last,
so the set of chunk-0 records is the list of completely stored documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .embeddings import EmbedderIdentity
from .keyword import KeywordIndex

COLLECTION = "chunks"
_PAGE = 2000


class StoreMismatchError(RuntimeError):
    """The store was built with another embedder or other chunking settings."""


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
    server); ``keyword_path`` is the SQLite file of the BM25 index."""

    def __init__(self, client, keyword_path: Path, identity: EmbedderIdentity, chunking: dict):
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
        self.keyword = KeywordIndex(keyword_path)

    def close(self) -> None:
        self.keyword.close()

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
        return [
            Hit(i, doc, meta, 1.0 - dist)
            for i, doc, meta, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]
            )
        ]

    def get(self, ids: list[str]) -> dict[str, Hit]:
        if not ids:
            return {}
        res = self.collection.get(ids=ids, include=["documents", "metadatas"])
        return {i: Hit(i, d, m, 0.0) for i, d, m in zip(res["ids"], res["documents"], res["metadatas"])}

    def count(self) -> int:
        return self.collection.count()

    # -- writing ---------------------------------------------------------------------------
    def replace_document(self, source: str, doc_hash: str, ids: list[str], embeddings, texts: list[str],
                         metadatas: list[dict]) -> None:
        """Store a document's chunks, then drop any other version of it. Chunk 0 goes last so a
        crash mid-way leaves no record that this version is complete (see ``repair``)."""
        order = list(range(1, len(ids))) + [0] if ids else []
        for start in range(0, len(order), 500):
            batch = order[start : start + 500]
            self.collection.upsert(
                ids=[ids[i] for i in batch],
                embeddings=[embeddings[i] for i in batch],
                documents=[texts[i] for i in batch],
                metadatas=[metadatas[i] for i in batch],
            )
        self.collection.delete(where={"$and": [{"source": source}, {"doc_hash": {"$ne": doc_hash}}]})
        self.keyword.replace_source(
            source, ids, [contextual_text(t, m) for t, m in zip(texts, metadatas)], metadatas
        )

    def remove_document(self, source: str) -> None:
        self.collection.delete(where={"source": source})
        self.keyword.delete_where_source(source)

    def repair(self) -> tuple[int, int]:
        """Remove chunks of incomplete or superseded versions and bring the keyword index back in
        step with Chroma. Returns (chunks removed from Chroma, keyword entries changed)."""
        complete = {d.source: d.doc_hash for d in self.documents().values()}
        stale = [i for i, m, _ in self._scan() if complete.get(m["source"]) != m["doc_hash"]]
        for start in range(0, len(stale), _PAGE):
            self.collection.delete(ids=stale[start : start + _PAGE])
        written, deleted = self.keyword.sync_from(
            (i, contextual_text(text, meta), meta) for i, meta, text in self._scan(text=True)
        )
        return len(stale), written + deleted

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
