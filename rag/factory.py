"""Objects built from settings: the embedder, the Chroma client, the chunk store, the answerer.
Heavy imports (chromadb, torch) happen here, inside the functions, not at ``import rag``."""

from __future__ import annotations

from .collections import DEFAULT, home, unknown
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
    """An embedded ``PersistentClient`` under data_dir, or, with ``chroma_url``, an ``HttpClient``
    to that server whose calls are retried while it restarts. A server that does not answer now is
    an error at once, naming the command that starts it."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url is None:
        path = settings.data_dir / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)

    from vectorstore.retrying import RetryingClient
    from vectorstore.errors import ChromaUnavailableError

    host, port, ssl = server_address(settings.chroma_url)
    down = (
        f"The Chroma server at {settings.chroma_url} does not answer: start it with "
        f"`chroma run --path DIR --host {host} --port {port}` (DIR: the folder of its database), "
        "or unset chroma_url to use a database inside data_dir."
    )
    try:
        client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
    except ValueError as exc:  # what chromadb raises when nothing answers
        if "Could not connect" not in str(exc):
            raise
        raise ChromaUnavailableError(down) from None
    return RetryingClient(client, down)


def server_address(url: str) -> tuple[str, int, bool]:
    """'http://host:port' -> (host, port, ssl); the port defaults to 8000 (Chroma's), or 443 with
    https."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        from .errors import UsageError

        raise UsageError(f"chroma_url must look like http://HOST:PORT, got {url!r}")
    ssl = parts.scheme == "https"
    return parts.hostname, parts.port or (443 if ssl else 8000), ssl


def chunking_params(settings: Settings) -> dict:
    # "text": what is embedded and keyword-indexed for a chunk (see vectorstore.records.contextual_text)
    return {"tokens": settings.chunk_tokens, "overlap": settings.chunk_overlap_tokens, "text": "title+chunk"}


def make_store(settings: Settings, client, embedder, *, create: bool = False):
    """The store of ``settings.collection``; one that does not exist is an error (naming the
    command that creates it), except the default collection, or with ``create``."""
    from vectorstore.errors import UnknownCollection
    from vectorstore.store import KEYWORD_SYNC_SECONDS, ChunkStore

    name = settings.collection
    try:
        store = ChunkStore(
            client, keyword_path(settings), embedder.identity, chunking_params(settings),
            sync_interval=KEYWORD_SYNC_SECONDS if settings.chroma_url else None,
            collection=name, create=create or name == DEFAULT,
        )
    except UnknownCollection:
        raise unknown(name, settings.data_dir) from None
    return store


def make_indexer(settings: Settings, store, embedder):
    """The indexer of ``store``, with the chunking, file, OCR and web limits of ``settings``."""
    from ingest.loaders.ocr import Ocr

    from .attachments import Attachments
    from .indexer import Indexer

    return Indexer(
        store, embedder, chunk_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap_tokens,
        include_hidden=settings.include_hidden, max_file_bytes=int(settings.max_file_mb * 2**20),
        max_pdf_pages=settings.max_pdf_pages or None,
        ocr=Ocr(languages=settings.ocr_languages, max_pages=settings.max_ocr_pages or None,
                timeout_s=settings.ocr_timeout_s),
        attachments=Attachments(home(settings.data_dir, settings.collection) / "attachments"),
        web=make_webpages(settings),
    )


def make_webpages(settings: Settings):
    """The kept copies of the collection's web pages, fetched within the limits of ``settings``."""
    from ingest.web import Limits

    from .webpages import WebPages

    limits = Limits(max_bytes=int(settings.url_max_mb * 2**20), timeout_s=settings.url_timeout_s,
                    max_redirects=settings.url_max_redirects)
    return WebPages(home(settings.data_dir, settings.collection) / "web", limits)


def reset_store(settings: Settings, client) -> list[str]:
    """Empty the store of ``settings.collection`` (``ChunkStore.reset``); the sources it held."""
    from vectorstore.store import ChunkStore

    return ChunkStore.reset(client, keyword_path(settings), settings.collection)


def keyword_path(settings: Settings):
    return home(settings.data_dir, settings.collection) / "keyword.sqlite3"


def make_answerer(settings: Settings, embedder):
    """The extractive answerer without an LLM; with one, the reader (``reader = 'llm'``, its
    default then) or the LLM writing answers (``reader = 'none'``)."""
    reader = settings.reader or ("none" if settings.llm == "extractive" else "llm")
    if settings.llm == "extractive":
        if reader == "llm":
            from .errors import UsageError

            raise UsageError("reader = 'llm' needs a language model: set llm (see docs/llms.md)")
        from .answerers.extractive import ExtractiveAnswerer

        return ExtractiveAnswerer(embedder)
    from .answerers.llm import LLMAnswerer
    from .llms import LlamaCppChatModel, make_chat_model, token_counter

    chat_model = make_chat_model(settings)
    if reader == "llm":
        from .answerers.reader import ReaderAnswerer

        return ReaderAnswerer(chat_model, embedder, count_tokens=token_counter(settings, chat_model),
                              context_tokens=settings.llm_context_tokens,
                              grammar=settings.reader_grammar and isinstance(chat_model, LlamaCppChatModel))
    return LLMAnswerer(
        chat_model,
        embedder,
        count_tokens=token_counter(settings, chat_model),
        context_tokens=settings.llm_context_tokens,
        max_answer_tokens=settings.llm_max_answer_tokens,
    )
