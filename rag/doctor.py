"""``rag doctor``: check that the parts of a data dir agree, and repair what can be repaired.

Checked: what the store checks of itself (``ChunkStore.check``: every chunk belongs to a
complete version of its document, each document has one complete version holding all its
chunks, the keyword index holds exactly the chunks of those versions), and, here, against the
files: for each document whose file is unchanged (same content hash), every chunk's offsets
still select the chunk's text from the file's extracted text.

Repairs: of two complete versions, the one that is not the file's content is kept; orphan
chunks are dropped and the keyword index is re-synced from Chroma (``ChunkStore.repair``);
documents with missing chunks or offsets that no longer match are re-indexed from their files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.loaders import LoadError
from ingest.web import is_url

if TYPE_CHECKING:
    from vectorstore.store import ChunkStore

    from .indexer import Indexer

INTERRUPTED = "the last write was interrupted (its marker file is still there)"


@dataclass
class DoctorReport:
    problems: list[str] = field(default_factory=list)
    """What was wrong when the check started."""
    repaired: list[str] = field(default_factory=list)
    """What the repair did."""
    remaining: list[str] = field(default_factory=list)
    """Problems still there (all of them when nothing was repaired)."""
    notes: list[str] = field(default_factory=list)
    """Not problems: documents whose files changed or went away since they were indexed
    (``rag sync`` brings those up to date)."""

    @property
    def ok(self) -> bool:
        return not self.remaining


def examine(store: ChunkStore, indexer: Indexer, *, repair: bool,
            interrupted: bool = False) -> DoctorReport:
    """Check ``store``; with ``repair``, fix it, re-indexing documents with ``indexer``, then
    check again what was repaired."""
    health, broken, notes, problems = _check(store, indexer)
    report = DoctorReport(problems=problems + ([INTERRUPTED] if interrupted else []), notes=notes)
    if not repair or not report.problems:
        report.remaining = list(report.problems)
        return report
    keep = {}
    for source, hashes in sorted(health.versions.items()):
        current = indexer.version(source)
        if current in hashes:
            keep[source] = current
            report.repaired.append(f"{source}: dropped {len(hashes) - 1} older version(s)")
    removed, resynced = store.repair(keep)
    if removed or resynced:
        report.repaired.append(f"dropped {removed} chunks of incomplete or superseded versions; "
                               f"re-synced {resynced} keyword entries")
    loadable = [s for s in broken if _loads(indexer, s)]
    if loadable:
        indexer.remove(loadable)
        result = indexer.ingest(loadable, fetch=False)
        report.repaired += [f"{s}: re-indexed from its file" for s in result.added]
        report.remaining += [f"{s}: removed, and could not be re-indexed: {why}"
                             for s, why in result.failed]
    report.remaining = _check(store, indexer, offsets_of=set(loadable))[3] + report.remaining
    return report


def _check(store: ChunkStore, indexer: Indexer, offsets_of: set[str] | None = None):
    """(the store's ``Health``, sources to re-index, notes, problem lines); the offsets are
    checked for the documents ``offsets_of`` (all when None)."""
    health = store.check()
    problems, notes = health.problems(), []
    broken = sorted(health.incomplete)
    for source, doc in sorted(store.documents().items()):
        if source in health.versions or source in health.incomplete:
            continue
        if offsets_of is None or source in offsets_of:
            problem, note = _check_offsets(store, indexer, source, doc.doc_hash)
            if problem:
                broken.append(source)
                problems.append(problem)
            notes += [note] if note else []
    return health, broken, notes, problems


def _check_offsets(store: ChunkStore, indexer: Indexer, source: str,
                   doc_hash: str) -> tuple[str | None, str | None]:
    """(problem, note): whether every chunk of ``source`` is the slice of the file's text (a web
    page's kept copy) its offsets say; a note when the file changed or went away since it was
    indexed."""
    current = indexer.version(source)
    if current is None:
        gone = "no copy kept" if is_url(source) else "file unreadable" if os.path.exists(source) else "file gone"
        return None, f"{source}: {gone} since indexed"
    if current != doc_hash:
        return None, f"{source}: " + ("copy" if is_url(source) else "file") + " changed since indexed"
    chunks = store.chunks(source, doc_hash)
    wrong, k = 0, 0
    try:
        for part in indexer.parts(source):  # a large text file a part at a time: bounded memory
            part_end = part.offset + len(part.text)
            while k < len(chunks) and chunks[k].start < part_end:
                c = chunks[k]
                wrong += part.text[c.start - part.offset : c.end - part.offset] != c.text
                k += 1
    except LoadError as exc:
        return f"{source}: unchanged, but can no longer be loaded: {exc.reason}", None
    wrong += len(chunks) - k  # past the end of the text
    if wrong:
        return f"{source}: offsets of {wrong} of {len(chunks)} chunks do not match its text", None
    return None, None


def _loads(indexer: Indexer, source: str) -> bool:
    try:
        for _ in indexer.parts(source):
            pass
    except LoadError:
        return False
    return True
