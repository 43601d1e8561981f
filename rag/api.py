"""The one object behind the Python API, the CLI and the UI."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .collections import DEFAULT, CollectionInfo, check_name, home, unknown
from .errors import UsageError
from .followups import conversation_turns, standalone_question
from .indexer import IngestReport, Progress
from .settings import Settings
from .types import Answer, Passage

if TYPE_CHECKING:
    from vectorstore.embeddings import Embedder
    from vectorstore.records import StoredDocument
    from vectorstore.store import ChunkStore

    from .access import Access
    from .answerers import Answerer
    from .conversations import Conversations
    from .doctor import DoctorReport

log = logging.getLogger(__name__)


class RAG:
    """Documents in, answers with exact citations out.

    >>> rag = RAG(data_dir="./rag_data")
    >>> rag.ingest(["docs/"])
    >>> rag.ask("Quand commenceront les pourparlers ?").citations[0].quote

    Any setting (see ``rag.settings.Settings``) can be passed as a keyword; the rest come from
    ``RAG_*`` environment variables, then ``rag.toml``. ``embedder``, ``client`` (a chromadb
    client) and ``answerer`` can be injected; by default they are built from the settings.
    Everything heavy is created on first use. ``RAG(collection="notes")`` works on one
    collection of the data dir (``rag.collections``); ``rag.collection(name)`` is the same data
    dir's other collection, sharing the model, the client and the answerer.
    """

    def __init__(self, data_dir: str | Path | None = None, *, embedder: Embedder | None = None,
                 client=None, answerer: Answerer | None = None, **settings):
        if data_dir is not None:
            settings["data_dir"] = Path(data_dir)
        self.settings = Settings(**settings)
        self._embedder = embedder
        self._client = client
        self._answerer = answerer
        self._store = None
        self._siblings: dict[str, RAG] = {}
        self._conversations = None
        self._access = None
        self._siblings_lock = threading.Lock()

    # -- parts, built lazily ---------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from .factory import make_embedder

            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def store(self) -> ChunkStore:
        if self._store is None:
            from .factory import make_store

            self._store = make_store(self.settings, self._chroma(), self.embedder)
        return self._store

    def _chroma(self):
        if self._client is None:
            from .factory import make_client

            self._client = make_client(self.settings)
        return self._client

    @property
    def collection_dir(self) -> Path:
        """The folder of this collection's own files (keyword index, uploads, write marker)."""
        return home(self.settings.data_dir, self.settings.collection)

    @property
    def conversations(self) -> Conversations:
        """The data dir's saved conversations (``rag.conversations``), of every collection."""
        if self._conversations is None:
            from .conversations import FILE, Conversations

            self._conversations = Conversations(self.settings.data_dir / FILE)
        return self._conversations

    @property
    def access(self) -> Access:
        """Who may use which collection through the interfaces that serve requests (``rag.access``)."""
        if self._access is None:
            from .access import FILE, Access

            self._access = Access(self.settings.access_file or self.settings.data_dir / FILE)
        return self._access

    @property
    def answerer(self) -> Answerer:
        if self._answerer is None:
            from .factory import make_answerer

            self._answerer = make_answerer(self.settings, self.embedder)
        return self._answerer

    def _indexer(self):
        from .factory import make_indexer

        return make_indexer(self.settings, self.store, self.embedder)

    @contextmanager
    def _write_lock(self):
        """The data dir's write lock: writers (in any process) take turns; readers never wait."""
        from filelock import FileLock, Timeout

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.settings.data_dir / "write.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.warning("waiting for another process writing to %s to finish", self.settings.data_dir)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def _writing(self, *, recover: bool = True):
        """The write lock, plus a marker file that only a completed write removes: a write that
        a crash (or kill -9) interrupted is found by the next one, which first ``repair``s the
        store (with ``recover``; not against a shared Chroma server, where the chunks of another
        process's write in progress would look like leftovers)."""
        with self._write_lock():
            name = self.settings.collection
            if name != DEFAULT and name not in self.collection_names():
                raise unknown(name, self.settings.data_dir)  # before anything is written
            marker = self.collection_dir / WRITE_MARKER
            if marker.exists() and recover and self.settings.chroma_url is None:
                removed, resynced = self.store.repair()
                log.warning("the last write to %s was interrupted; repaired: %d stale chunks "
                            "removed, %d keyword entries re-synced",
                            self.settings.data_dir, removed, resynced)
            marker.touch()
            yield
            marker.unlink()

    # -- documents -------------------------------------------------------------------------
    def ingest(self, paths: str | Path | Iterable[str | Path], *, prune: bool = False,
               progress: Progress | None = None, include: Iterable[str] | None = None,
               exclude: Iterable[str] | None = None, on_behalf: bool = False) -> IngestReport:
        """Add new files, re-index changed ones, skip unchanged ones; with ``prune``, also drop
        documents under ``paths`` whose files are gone. Bad files land in ``report.failed``.
        ``include``/``exclude``: globs that select files (``*.md``, ``drafts``, ``2021/*.txt``:
        matched name by name against the end of each file's path or of a folder holding it).
        An http(s) URL among ``paths`` is a web page, fetched (again) and indexed with the URL as
        its source; ``on_behalf``: the URLs come from a server's user, and are fetched only from
        the hosts of ``url_allow`` (none by default)."""
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        hosts = tuple(self.settings.url_allow) if on_behalf else None
        with self._writing():
            return self._indexer().ingest(paths, prune=prune, progress=progress, hosts=hosts,
                                          include=include or (), exclude=exclude or ())

    def sync(self, *, progress: Progress | None = None, include: Iterable[str] | None = None,
             exclude: Iterable[str] | None = None) -> IngestReport:
        """Re-check every known document: re-index changed files, remove those that are gone,
        fetch web pages again (a page that cannot be fetched now keeps its indexed version).
        With ``include``/``exclude`` (as in ``ingest``), only the documents they select."""
        from ingest.discover import selected
        from ingest.web import is_url

        with self._writing():
            indexer = self._indexer()
            include, exclude = list(include or ()), list(exclude or ())
            sources = [s for s in self.store.documents() if selected(Path(s), include, exclude)]
            report = indexer.ingest([s for s in sources if is_url(s) or Path(s).exists()], progress=progress)
            gone = [s for s in sources if not is_url(s) and not Path(s).exists()]
            report.removed.extend(indexer.remove(gone))
            return report

    def remove(self, paths: str | Path | Iterable[str | Path]) -> list[str]:
        """Remove documents (a folder removes all documents under it); returns their paths."""
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        with self._writing():
            return self._indexer().remove(paths)

    def document_text(self, source: str | Path, start: int = 0, end: int | None = None) -> str:
        """The extracted text that ``source``'s citations index, or its ``[start:end]`` slice (see
        ``rag.document_text``; for a web page, its copy kept in the collection), so a quote can
        be checked: ``rag.document_text(c.source, c.start, c.end) == c.quote``."""
        from ingest.web import is_url

        from .indexer import document_text

        if is_url(source):
            from .factory import make_webpages

            return make_webpages(self.settings).document(str(source)).text[start:end]
        return document_text(source, start, end)

    def sources(self) -> list[StoredDocument]:
        """The stored documents (source, title, date, language, chunks), sorted by path."""
        return [d for _, d in sorted(self.store.documents().items())]

    def reindex(self, *, progress: Progress | None = None) -> IngestReport:
        """Rebuild the index from the documents' files with the current model and chunking."""
        from ingest.web import is_url

        from .factory import make_store, reset_store

        with self._writing(recover=False):  # everything is rebuilt anyway
            self.close()
            sources = reset_store(self.settings, self._chroma())
            self._store = make_store(self.settings, self._chroma(), self.embedder, create=True)
            kept = [s for s in sources if is_url(s) or Path(s).exists()]
            report = self._indexer().ingest(kept, progress=progress, fetch=False)  # pages: their copies
            report.failed.extend((s, "file no longer exists") for s in sources if s not in kept)
            return report

    def repair(self) -> tuple[int, int]:
        """Drop chunks left by an interrupted write and re-sync the keyword index from Chroma."""
        with self._writing(recover=False):
            return self.store.repair()

    def doctor(self, *, repair: bool = True) -> DoctorReport:
        """Check the data dir: Chroma and the keyword index hold the same chunks, every document
        has all its chunks and no others, and the offsets of the documents whose files are
        unchanged still match their text. With ``repair``, fix what can be fixed (see
        ``rag.doctor``); ``report.ok`` says whether problems remain."""
        from .doctor import examine

        if not repair:
            with self._write_lock():
                interrupted = (self.collection_dir / WRITE_MARKER).exists()
                return examine(self.store, self._indexer(), repair=False, interrupted=interrupted)
        with self._writing(recover=False):
            return examine(self.store, self._indexer(), repair=True)

    # -- collections -----------------------------------------------------------------------
    def collection(self, name: str, user: str | None = None) -> RAG:
        """The data dir's collection ``name`` (this object for its own), sharing this one's
        embedder, client and answerer; an unknown name fails at its first use. With ``user``,
        a collection the access file does not open to them is a ``NotGrantedError``."""
        name = check_name(name)
        if user is not None:
            self.access.check(user, name)
        if name == self.settings.collection:
            return self
        with self._siblings_lock:
            if name not in self._siblings:
                settings = {**self.settings.model_dump(), "collection": name}
                self._siblings[name] = RAG(embedder=self.embedder, client=self._chroma(),
                                           answerer=self.answerer, **settings)
            return self._siblings[name]

    def collection_names(self, user: str | None = None) -> list[str]:
        """The names of the data dir's collections, the default one first; with ``user``, only
        those the access file opens to them."""
        from vectorstore.store import ChunkStore

        names = [DEFAULT] + [n for n in ChunkStore.names(self._chroma()) if n != DEFAULT]
        return names if user is None else self.access.visible(user, names)

    def collections(self, user: str | None = None) -> list[CollectionInfo]:
        """The data dir's collections (``user``'s, as ``collection_names``) with their counts."""
        listed = []
        for name in self.collection_names(user):
            docs = self.collection(name).sources()
            listed.append(CollectionInfo(name, len(docs), sum(d.chunks for d in docs)))
        return listed

    def create_collection(self, name: str) -> CollectionInfo:
        """A new, empty collection; an existing name is an error."""
        from .factory import make_store

        with self._write_lock():
            if check_name(name) in self.collection_names():
                raise UsageError(f"a collection named {name!r} already exists")
            sibling = self.collection(name)
            sibling._store = make_store(sibling.settings, sibling._chroma(), self.embedder, create=True)
        return CollectionInfo(name, 0, 0)

    def delete_collection(self, name: str) -> list[str]:
        """Delete collection ``name``: its chunks, keyword index and uploaded copies (the
        documents' own files stay); returns the sources it held. The default one stays."""
        import shutil

        from .factory import reset_store

        if check_name(name) == DEFAULT:
            raise UsageError("the default collection cannot be deleted (`rag remove` removes its documents)")
        with self._write_lock():
            if name not in self.collection_names():
                raise unknown(name, self.settings.data_dir)
            if used := self.conversations.using(name):
                raise UsageError(f"the collection {name!r} is used by {used} saved conversation(s): "
                                 "delete them first (`rag conversations`)")
            sibling = self.collection(name)
            with self._siblings_lock:
                self._siblings.pop(name, None)
            sibling.close()
            sources = reset_store(sibling.settings, self._chroma())
            shutil.rmtree(sibling.collection_dir, ignore_errors=True)
            return sources

    # -- questions -------------------------------------------------------------------------
    def retrieve(self, question: str, k: int | None = None, filters=None) -> list[Passage]:
        """The ``k`` best passages for ``question`` (dense + keyword, fused); ``k`` defaults
        to the setting. ``filters``: a ``Filters`` or a dict of its fields."""
        from .retriever import Filters, hybrid_search

        s = self.settings
        return hybrid_search(
            self.store, self.embedder, question, k=_check_k(k, s.k), candidates=s.candidates,
            fusion=s.fusion, fusion_k=s.fusion_k, weights=(s.dense_weight, s.keyword_weight),
            filters=Filters.coerce(filters),
        )

    def converse(self, conversation_id: str, question: str, *, user: str | None = None,
                 filters=None, k: int | None = None) -> Answer:
        """Ask ``question`` in saved conversation ``conversation_id`` (``user``'s, in a collection
        open to them; default: the local user, as the owner), in its collection and with its
        turns as history; the turn is saved."""
        from .conversations import LOCAL_USER

        conversation = self.conversations.get(user or LOCAL_USER, conversation_id)
        answer = self.collection(conversation.collection, user).ask(question, history=conversation.history(), filters=filters, k=k)
        self.conversations.add_turn(user or LOCAL_USER, conversation_id, question, answer.to_dict())
        return answer

    def ask(self, question: str, history=None, filters=None, k: int | None = None) -> Answer:
        """Answer ``question`` from the documents, citing passages, or abstain."""
        *_, final = self.stream(question, history=history, filters=filters, k=k)
        return final

    def stream(self, question: str, history=None, filters=None,
               k: int | None = None) -> Iterator[str | Answer]:
        """Text pieces of the answer as they are written, then the final ``Answer``."""
        query = self._query(question, history)
        passages = self.retrieve(query, k=k, filters=filters)
        for piece in self.answerer.stream(question, passages):
            yield _with_query(piece, query) if isinstance(piece, Answer) else piece

    def _query(self, question: str, history) -> str:
        """What to retrieve with: a follow-up rewritten to stand alone, by the answerer's
        language model when it has one, else by ``standalone_question``'s rule."""
        turns = conversation_turns(history)
        rewritten = self.answerer.standalone_question(question, turns) if turns else None
        return rewritten or standalone_question(question, history)

    @property
    def retriever(self):
        """Retrieval as a LangChain ``BaseRetriever``."""
        from .retriever import HybridRetriever

        return HybridRetriever(rag=self)

    def as_runnable(self):
        """The whole pipeline as a LangChain ``Runnable``: input a question (or a dict with
        question, history, filters); ``invoke`` gives an ``Answer``, ``stream`` gives text pieces
        then the ``Answer``, ``batch`` a list of answers."""
        from .runnable import RAGRunnable

        return RAGRunnable(rag=self)

    def close(self) -> None:
        with self._siblings_lock:
            siblings, self._siblings = list(self._siblings.values()), {}
        for sibling in siblings:
            sibling.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> RAG:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


WRITE_MARKER = "write.pending"
"""File in data_dir that exists while a write is in progress, and after one was interrupted."""

def _check_k(k: int | None, default: int) -> int:
    if k is None:
        return default
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UsageError(f"k must be a positive whole number of passages, got {k!r}")
    return k


def _with_query(answer: Answer, query: str) -> Answer:
    from dataclasses import replace

    return replace(answer, query=query)
