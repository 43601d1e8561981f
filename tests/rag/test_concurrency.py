"""Writers take turns through the data dir's lock file; questions never wait for them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import EVAL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def corpora(tmp_path) -> tuple[Path, Path]:
    """Two folders of short articles (tests/data/eval/villes-fr), 6 files each."""
    files = sorted((EVAL / "villes-fr" / "docs").glob("*.txt"))[:12]
    assert len(files) == 12
    folders = tmp_path / "one", tmp_path / "two"
    for n, src in enumerate(files):
        folder = folders[n % 2]
        folder.mkdir(exist_ok=True)
        shutil.copy(src, folder / src.name)
    return folders


def _wait_for_line(process: subprocess.Popen, text: str) -> None:
    for line in process.stderr:
        if text in line:
            return
    raise AssertionError(f"the process ended without printing {text!r}")


@pytest.mark.slow  # two more processes, each loading the model (in process: the next test)
def test_two_ingest_processes_take_turns(tmp_path, corpora, real_embedder):
    from rag import RAG

    data = tmp_path / "data"
    data.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with FileLock(str(data / "write.lock")):  # both start while a third writer holds the lock
        processes = [
            subprocess.Popen([sys.executable, "-m", "rag", "--data-dir", str(data), "ingest", str(folder)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for folder in corpora
        ]
        for process in processes:
            _wait_for_line(process, "waiting for another process writing to")
    for process in processes:
        out, err = process.communicate()
        assert process.returncode == 0, err
        assert "added 6, updated 0, unchanged 0, removed 0, failed 0" in out

    with RAG(data_dir=data, embedder=real_embedder) as rag:
        expected = sorted(str(f.resolve()) for folder in corpora for f in folder.iterdir())
        assert [d.source for d in rag.sources()] == expected
        report = rag.doctor(repair=False)
        assert report.problems == [] and report.ok


def test_questions_are_answered_while_an_ingest_writes(make_rag, corpora, monkeypatch):
    import rag.indexer

    first, second = corpora
    reader, writer = make_rag(), make_rag()
    reader.ingest([first])
    question = "Quand la ville a-t-elle été fondée ?"
    written, asked = threading.Event(), threading.Event()
    monkeypatch.setattr(rag.indexer, "EMBED_BATCH_CHUNKS", 1)  # one document per write
    commit = writer.store.commit

    def commit_then_pause(*args, **kwargs):
        commit(*args, **kwargs)
        if not written.is_set():  # mid-ingest: one document written, the others not yet
            written.set()
            asked.wait()

    writer.store.commit = commit_then_pause
    errors = []

    def ingest():
        try:
            errors.append(writer.ingest([second]).failed)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
            written.set()

    def ask() -> None:
        passages = reader.retrieve(question, k=5)
        assert len(passages) == 5
        for p in passages:
            assert Path(p.source).read_text(encoding="utf-8")[p.start : p.end] == p.text

    thread = threading.Thread(target=ingest)
    thread.start()
    written.wait()
    ask()
    asked.set()
    while thread.is_alive():
        ask()
    thread.join()
    assert errors == [[]]
    assert len(reader.sources()) == 12 and reader.doctor(repair=False).ok


@pytest.mark.slow  # a process start (the model loaded again): the reads during a write are those of
# test_questions_are_answered_while_an_ingest_writes, processes sharing a data dir those of
# test_two_ingest_processes_take_turns, both in the fast tier
def test_questions_are_answered_while_another_process_ingests(tmp_path, corpora, real_embedder):
    from rag import RAG

    first, second = corpora
    data = tmp_path / "data"
    with RAG(data_dir=data, embedder=real_embedder) as rag:
        rag.ingest([first])
        command = [sys.executable, "-m", "rag", "--data-dir", str(data), "ingest", str(second)]
        writer = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        while writer.poll() is None:
            for p in rag.retrieve("Quand la ville a-t-elle été fondée ?", k=5):
                assert Path(p.source).read_text(encoding="utf-8")[p.start : p.end] == p.text
        assert writer.returncode == 0, writer.stderr.read()
        assert len(rag.sources()) == 12
        title = rag.sources()[-1].title  # a document of the other process, found by both rankings
        assert any(p.title == title for p in rag.retrieve(title, k=3))
