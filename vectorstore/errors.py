"""The store's expected failures, each with a message that says what is wrong and how to fix it,
and the check that refuses a collection built with another model or other chunking."""

from __future__ import annotations

from .embeddings import EmbedderIdentity


class StoreError(RuntimeError):
    """An expected failure of the store; its message says what is wrong and how to fix it."""


class StoreMismatchError(StoreError):
    """The store was built with another embedder or other chunking settings."""


class ChromaUnavailableError(StoreError):
    """The Chroma server does not answer; the message names it and how to start it."""


class UnknownCollection(StoreError):
    """No collection of this name is stored (``ChunkStore(create=False)``); its name is the message."""


def check_compatible(found: dict, expected: dict, identity: EmbedderIdentity) -> None:
    """Refuse a collection whose metadata (``found``) records another embedder or other chunking
    settings than ``expected``, naming the fix."""
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
