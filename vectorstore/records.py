"""The store's typed records: a ``Chunk`` (one chunk of one document version, the one record a
chunk is from the chunker to an answer), a ``StoredDocument`` as the store lists it, a search
``Hit``, and the ``Health`` that ``ChunkStore.check`` reports. How a chunk maps to Chroma's
metadata stays in ``vectorstore.store``, which alone writes and reads them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NamedTuple

@dataclass(frozen=True)
class Chunk:
    """One chunk of one version of a document: ``text`` is the document's extracted text between
    ``start`` and ``end``; ``doc_hash`` names the version (its file's content hash), ``index``
    the chunk's place in it. ``date`` is 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD'."""

    source: str
    doc_hash: str
    index: int
    text: str
    start: int
    end: int
    title: str | None = None
    date: str | None = None
    language: str = "en"
    page: int | None = None
    section: str | None = None  # the Markdown heading the chunk starts under

    @property
    def id(self) -> str:
        return chunk_id(self.source, self.doc_hash, self.index)


def chunk_id(source: str, doc_hash: str, index: int) -> str:
    return f"{hashlib.sha1(source.encode()).hexdigest()[:12]}-{doc_hash[:12]}-{index:05d}"


@dataclass(frozen=True)
class StoredDocument:
    """A completely stored document version, as ``documents`` lists it."""

    source: str
    doc_hash: str
    title: str | None
    date: str | None
    language: str | None
    chunks: int


class Hit(NamedTuple):
    chunk: Chunk
    score: float


@dataclass
class Health:
    """What ``check`` found. ``versions``: sources with several complete versions (their
    hashes); ``incomplete``: sources whose complete version lacks chunks (stored, expected);
    ``orphans``: chunks of versions never committed or superseded (and how many versions);
    ``keyword_missing``/``keyword_extra``: chunks of complete versions the keyword index lacks,
    and entries it holds that are none."""

    versions: dict[str, list[str]] = field(default_factory=dict)
    incomplete: dict[str, tuple[int, int]] = field(default_factory=dict)
    orphans: int = 0
    orphan_versions: int = 0
    keyword_missing: int = 0
    keyword_extra: int = 0

    def problems(self) -> list[str]:
        lines = [f"{s}: {len(self.versions[s])} complete versions stored" if s in self.versions
                 else f"{s}: {self.incomplete[s][0]} chunks stored, {self.incomplete[s][1]} expected"
                 for s in sorted(self.versions.keys() | self.incomplete.keys())]
        if self.orphans:
            lines.append(f"{self.orphans} orphan chunks (of {self.orphan_versions} interrupted or "
                         "superseded versions)")
        if self.keyword_missing or self.keyword_extra:
            lines.append(f"keyword index out of step with Chroma: {self.keyword_missing} chunks "
                         f"missing, {self.keyword_extra} extra")
        return lines


def contextual_text(chunk: Chunk) -> str:
    """What is embedded and keyword-indexed for a chunk: its document's title, then the chunk.
    A passage read out of context ("Il a été élu en 1995.") is found through its document's
    subject; the stored, returned and cited text stays the chunk alone."""
    title, text = chunk.title, chunk.text
    if not title or title in text[: len(title) + 64]:
        return text
    return f"{title}\n\n{text}"
