"""Objects built from settings: the embedder, the Chroma client, the chunk store, the answerer.
Heavy imports (chromadb, torch) happen here, inside the functions, not at ``import rag``."""

from __future__ import annotations

from .settings import Settings


def make_embedder(settings: Settings):
    from vectorstore.embeddings import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        settings.embedding_model,
        cache_dir=settings.model_cache_dir,
        backend=settings.embedding_backend,
        batch_size=settings.embedding_batch_size,
        threads=settings.embedding_threads,
        query_prompt=settings.embedding_query_prompt,
        document_prompt=settings.embedding_document_prompt,
        quantize=settings.embedding_int8,
    )


def make_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def chunking_params(settings: Settings) -> dict:
    # "text": what is embedded and keyword-indexed for a chunk (see vectorstore.store.contextual_text)
    return {"tokens": settings.chunk_tokens, "overlap": settings.chunk_overlap_tokens, "text": "title+chunk"}


def make_store(settings: Settings, client, embedder):
    from vectorstore.store import ChunkStore

    return ChunkStore(
        client, settings.data_dir / "keyword.sqlite3", embedder.identity, chunking_params(settings)
    )


def make_answerer(settings: Settings, embedder):
    if settings.answerer == "extractive":
        from .answerers.extractive import ExtractiveAnswerer

        return ExtractiveAnswerer(embedder)
    raise ValueError(f"unknown answerer {settings.answerer!r}")
