"""``rag doctor``: check that the parts of a data dir agree, and repair what can be repaired.

Checked: every chunk in Chroma belongs to a complete version of its document (one whose chunk 0
is stored, see ``vectorstore.store``); each document has one complete version, holding all its
chunks; the keyword index holds exactly the chunks of those versions; and for each document
whose file is unchanged (same content hash), every chunk's offsets still select the chunk's text
from the file's extracted text.

Repairs: of two complete versions, the one that is not the file's content is dropped; orphan
chunks are dropped and the keyword index is re-synced from Chroma (``ChunkStore.repair``);
documents with missing chunks or offsets that no longer match are re-indexed from their files.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from ingest import file_hash, load_parts
from ingest.loaders import LoadError

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


@dataclass
class _Findings:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, list[str]] = field(default_factory=dict)
    """source -> content hashes of its complete versions, for sources with more than one."""
    broken: list[str] = field(default_factory=list)
    """Sources to re-index: chunks missing, or offsets that no longer match."""


def examine(store, indexer, *, repair: bool, interrupted: bool = False) -> DoctorReport:
    """Check ``store`` (a ``ChunkStore``); with ``repair``, fix it, re-indexing documents with
    ``indexer``, then check again what was repaired."""
    found = _check(store)
    report = DoctorReport(problems=found.problems + ([INTERRUPTED] if interrupted else []),
                          notes=found.notes)
    if not repair or not report.problems:
        report.remaining = list(report.problems)
        return report
    for source, hashes in sorted(found.versions.items()):
        current = _current_hash(source)
        if current in hashes:
            older = {"$and": [{"source": source}, {"doc_hash": {"$ne": current}}]}
            store.collection.delete(where=older)
            report.repaired.append(f"{source}: dropped {len(hashes) - 1} older version(s)")
    removed, resynced = store.repair()
    if removed or resynced:
        report.repaired.append(f"dropped {removed} orphan chunks; re-synced {resynced} keyword entries")
    loadable = [s for s in found.broken if _loads(s)]
    if loadable:
        indexer.remove(loadable)
        result = indexer.ingest(loadable)
        report.repaired += [f"{s}: re-indexed from its file" for s in result.added]
        report.remaining += [f"{s}: removed, and could not be re-indexed: {why}"
                             for s, why in result.failed]
    again = _check(store, offsets_of=set(loadable))
    report.remaining = again.problems + report.remaining
    return report


def _check(store, offsets_of: set[str] | None = None) -> _Findings:
    """What is wrong with ``store``; the offsets are checked for the documents ``offsets_of``
    (all when None)."""
    found = _Findings()
    chunks: dict[str, dict[str, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    sizes: dict[tuple[str, str], int] = {}
    for chunk_id, meta, _ in store._scan():
        chunks[meta["source"]][meta["doc_hash"]][meta["chunk_index"]] = chunk_id
        if meta["chunk_index"] == 0:
            sizes[meta["source"], meta["doc_hash"]] = meta.get("n_chunks", 0)
    good: set[str] = set()
    orphans = incomplete_versions = 0
    for source, versions in sorted(chunks.items()):
        complete = sorted(h for h in versions if (source, h) in sizes)
        for doc_hash, got in versions.items():
            if doc_hash in complete:
                good.update(got.values())
            else:
                orphans += len(got)
                incomplete_versions += 1
        if len(complete) > 1:
            found.versions[source] = complete
            found.problems.append(f"{source}: {len(complete)} complete versions stored")
            continue
        if not complete:
            continue
        doc_hash = complete[0]
        n = sizes[source, doc_hash]
        if set(versions[doc_hash]) != set(range(n)):
            found.broken.append(source)
            found.problems.append(f"{source}: {len(versions[doc_hash])} chunks stored, {n} expected")
        elif offsets_of is None or source in offsets_of:
            _check_offsets(store, source, doc_hash, found)
    if orphans:
        found.problems.append(
            f"{orphans} orphan chunks (of {incomplete_versions} interrupted or superseded versions)"
        )
    keyword = store.keyword.ids()
    missing, extra = len(good - keyword), len(keyword - good)
    if missing or extra:
        found.problems.append(
            f"keyword index out of step with Chroma: {missing} chunks missing, {extra} extra"
        )
    return found


def _check_offsets(store, source: str, doc_hash: str, found: _Findings) -> None:
    """Whether every chunk of ``source`` is the slice of the file's text its offsets say."""
    if not os.path.exists(source):
        found.notes.append(f"{source}: file gone since indexed")
        return
    current = _current_hash(source)
    if current != doc_hash:
        found.notes.append(f"{source}: file " + ("unreadable" if current is None else "changed")
                           + " since indexed")
        return
    spans = sorted(
        (meta["start"], meta["end"], i)
        for i, meta, _ in store._scan(where={"$and": [{"source": source}, {"doc_hash": doc_hash}]})
    )
    wrong, k = 0, 0
    try:
        for part in load_parts(source):  # a large text file a part at a time: bounded memory
            part_end, inside = part.offset + len(part.text), []
            while k < len(spans) and spans[k][0] < part_end:
                inside.append(spans[k])
                k += 1
            chunks = store.get([i for _, _, i in inside])
            wrong += sum(part.text[s - part.offset : e - part.offset] != chunks[i].text
                         for s, e, i in inside)
    except LoadError as exc:
        found.problems.append(f"{source}: unchanged, but can no longer be loaded: {exc.reason}")
        return
    wrong += len(spans) - k  # past the end of the text
    if wrong:
        found.broken.append(source)
        found.problems.append(
            f"{source}: offsets of {wrong} of {len(spans)} chunks do not match its text"
        )


def _current_hash(source: str) -> str | None:
    try:
        return file_hash(source)
    except OSError:
        return None


def _loads(source: str) -> bool:
    try:
        for _ in load_parts(source):
            pass
    except LoadError:
        return False
    return True
