"""kill -9 a `rag ingest` at random moments, then ingest again: the store must be what a clean
ingest gives (same documents and chunks, keyword index in step, no duplicates, no orphans).

Each trial switches a corpus of 15 short articles (tests/data/eval/villes-fr) between two states (every file changed, one
removed, one added), so the killed ingest adds, replaces and prunes; each file is read in parts,
as a large one is, and written a few chunks at a time. Its writes to Chroma and to
the keyword index are slowed down (a pause after each), so that the kills, spread over the whole
ingest, land in the middle of writes as often as in loading and embedding."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.conftest import EVAL

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 10
SEED = 6
PAUSE_S = 0.04
SNAPSHOT = "snapshot: "
CHILD = "import sys; from tests.rag.test_crash import child; child(*sys.argv[1:])"
ENV = {"RAG_CHUNK_TOKENS": "64", "RAG_CHUNK_OVERLAP_TOKENS": "16"}  # several chunks per file


def child(data: str, corpus: str, mode: str) -> None:
    """What the test runs in a process: an ingest (``slow``: with slowed writes), and then with
    ``check``, the snapshot of the store."""
    import ingest.loaders.text
    import rag.indexer
    from rag import RAG

    ingest.loaders.text.PART_BYTES = 400  # the articles (500-1,500 bytes) are read in parts,
    rag.indexer.EMBED_BATCH_CHUNKS = 4  # and their chunks written while they are read
    if "slow" in mode:
        _slow_writes()
    with RAG(data_dir=data) as rag:
        report = rag.ingest([corpus], prune=True)
        assert not report.failed, report.failed
        if "check" in mode:
            print(SNAPSHOT + json.dumps(snapshot(rag)))


def snapshot(rag) -> dict:
    """Everything a clean ingest determines: documents, chunks (id, text, metadata), the keyword
    index's chunk ids, and what ``doctor`` finds wrong."""
    got = rag.store.collection.get(include=["documents", "metadatas"])
    return {
        "documents": [asdict(d) for d in rag.sources()],
        "chunks": {i: [t, m] for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])},
        "keyword": sorted(rag.store.keyword.ids()),
        "problems": rag.doctor(repair=False).problems,
    }


def _slow_writes() -> None:
    from vectorstore.store import ChunkStore

    class Slow:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            value = getattr(self._inner, name)
            if name not in ("upsert", "delete", "replace_sources", "delete_where_source"):
                return value

            def slowly(*args, **kwargs):
                result = value(*args, **kwargs)
                time.sleep(PAUSE_S)
                return result

            return slowly

    init = ChunkStore.__init__

    def slow_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.collection, self._keyword = Slow(self.collection), Slow(self._keyword)

    ChunkStore.__init__ = slow_init


def _run(data: Path, corpus: Path, mode: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(data), str(corpus), mode], cwd=ROOT,
                            env={**os.environ, **ENV}, text=True, **popen)


def _checked(data: Path, corpus: Path, mode: str) -> dict:
    process = _run(data, corpus, mode, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate()
    assert process.returncode == 0, err
    return json.loads(out.rpartition(SNAPSHOT)[2])


def _set_state(corpus: Path, originals: list[Path], state: str) -> None:
    """State 'A': the first 15 articles as they are; 'B': the first 14 with a sentence added,
    and the 16th."""
    for path in corpus.iterdir():
        path.unlink()
    for n, src in enumerate(originals):
        if state == "A" and n < 15:
            shutil.copy(src, corpus / src.name)
        elif state == "B" and n < 14:
            text = src.read_text(encoding="utf-8") + "\n\nMise à jour : ce texte a été relu.\n"
            (corpus / src.name).write_text(text, encoding="utf-8")
        elif state == "B" and n == 15:
            shutil.copy(src, corpus / src.name)


@pytest.mark.slow  # about a minute and a half on 2 cores
def test_killed_ingests_leave_nothing_a_rerun_does_not_fix(tmp_path):
    docs = EVAL / "villes-fr" / "docs"
    originals = [p for p in sorted(docs.glob("*.txt")) if 500 <= p.stat().st_size <= 1500][:16]
    assert len(originals) == 16
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    reference = {}
    for state in "AB":
        _set_state(corpus, originals, state)
        started = time.monotonic()
        reference[state] = _checked(tmp_path / f"clean-{state}", corpus, "slow+check")
        duration = time.monotonic() - started  # of an ingest of every file, and a check
        assert reference[state]["problems"] == [] and len(reference[state]["documents"]) == 15
    assert len(reference["A"]["chunks"]) > 30  # several chunks per document

    rng = random.Random(SEED)
    data = tmp_path / "data"
    outcomes = []
    for trial in range(TRIALS):
        state = "AB"[trial % 2]  # every file changes at each trial
        _set_state(corpus, originals, state)
        delay = duration * rng.uniform(0.05, 0.9)
        process = _run(data, corpus, "slow", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        outcomes.append(f"trial {trial}: exit {process.returncode} after {delay:.2f} s")
        if trial % 3 == 2:  # sometimes `rag doctor` repairs first, sometimes the ingest itself
            doctor = subprocess.run([sys.executable, "-m", "rag", "--data-dir", str(data), "doctor"],
                                    cwd=ROOT, env={**os.environ, **ENV}, capture_output=True, text=True)
            assert doctor.returncode == 0, (outcomes, doctor.stdout, doctor.stderr)
        got = _checked(data, corpus, "check")
        assert got == reference[state], outcomes
