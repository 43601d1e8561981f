"""`rag watch` (rag/watch.py): a Watcher over a temp folder follows real file operations into the
index, with the real embedding model and real Chroma. Tests wait on conditions, never sleep."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from filelock import FileLock

from ingest.discover import iter_files, walk_takes
from rag.cli import main
from rag.watch import Watcher
from tests.conftest import wait_until
from tests.rag.conftest import ARTICLE, ARTICLE_QUESTION

ROOT = Path(__file__).resolve().parents[2]
LIGHTHOUSE = "The keeper of the Port Aven lighthouse paints its tower blue every April."
LIGHTHOUSE_Q = "What colour is the Port Aven lighthouse tower painted?"
ORCHARD = "The orchard behind the Kervel mill grows forty kinds of cider apples."
ORCHARD_Q = "How many kinds of cider apples grow at the Kervel mill orchard?"


def start(rag, folder: Path, **options) -> SimpleNamespace:
    """A running Watcher over ``folder``, its start-up sync done; ``reports`` collects batches."""
    reports = []
    watcher = Watcher(rag, [folder], on_batch=lambda line, report: reports.append(report), **options)
    watcher.start()
    wait_until(watcher.synced.is_set, what="the start-up sync is done")
    return SimpleNamespace(watcher=watcher, reports=reports, rag=rag, folder=folder)


@pytest.fixture
def watched(tmp_path, make_rag):
    folder = tmp_path / "watched"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)  # another document, for the questions to miss
    w = start(make_rag(), folder)
    yield w
    w.watcher.stop()


def sources(rag) -> set[str]:
    return {d.source for d in rag.sources()}


def texts(rag, question: str) -> str:
    return "\n".join(p.text for p in rag.retrieve(question, k=3))


def count(reports, kind: str, path: Path) -> int:
    return sum(getattr(r, kind).count(str(path)) for r in reports)


def test_a_new_file_is_indexed_and_a_question_finds_it(watched):
    note = watched.folder / "note.txt"
    note.write_text(LIGHTHOUSE, encoding="utf-8")
    wait_until(lambda: str(note) in sources(watched.rag), what="note.txt is indexed")
    assert watched.rag.retrieve(LIGHTHOUSE_Q, k=1)[0].source == str(note)
    assert watched.rag.retrieve(ARTICLE_QUESTION, k=1)[0].source == str(watched.folder / ARTICLE.name)
    assert count(watched.reports, "added", note) == 1


def test_a_changed_file_is_replaced_by_its_one_new_version(watched):
    note = watched.folder / "note.txt"
    note.write_text(LIGHTHOUSE, encoding="utf-8")
    wait_until(lambda: str(note) in sources(watched.rag), what="note.txt is indexed")
    note.write_text(ORCHARD, encoding="utf-8")
    wait_until(lambda: count(watched.reports, "updated", note) == 1, what="note.txt is updated")
    assert "forty kinds" in texts(watched.rag, ORCHARD_Q)
    assert "lighthouse" not in texts(watched.rag, LIGHTHOUSE_Q)
    chunks = watched.rag.store.collection.get(where={"source": str(note)}, include=["metadatas"])
    assert {m["doc_hash"] for m in chunks["metadatas"]} == {watched.rag.store.documents()[str(note)].doc_hash}


@pytest.mark.parametrize("temporary", ["note.txt.tmp", ".#note.txt", "tmp-note.txt"])
def test_a_save_by_rename_is_one_update_of_the_target(watched, temporary):
    note = watched.folder / "note.txt"
    note.write_text(LIGHTHOUSE, encoding="utf-8")
    wait_until(lambda: str(note) in sources(watched.rag), what="note.txt is indexed")
    tmp = watched.folder / temporary
    tmp.write_text(ORCHARD, encoding="utf-8")
    os.replace(tmp, note)  # what editors do: write a temporary file, rename it over the target
    wait_until(lambda: count(watched.reports, "updated", note) == 1, what="note.txt is updated")
    assert "forty kinds" in texts(watched.rag, ORCHARD_Q)
    assert sources(watched.rag) == {str(note), str(watched.folder / ARTICLE.name)}
    assert not any(str(tmp) in r.added + r.updated + r.removed for r in watched.reports)
    assert sum(len(r.added + r.updated) for r in watched.reports[1:]) == 2  # created, then the one update


def test_a_deleted_file_is_removed(watched):
    note = watched.folder / "note.txt"
    note.write_text(LIGHTHOUSE, encoding="utf-8")
    wait_until(lambda: str(note) in sources(watched.rag), what="note.txt is indexed")
    note.unlink()
    wait_until(lambda: str(note) not in sources(watched.rag), what="note.txt is removed")
    assert count(watched.reports, "removed", note) == 1
    assert "lighthouse" not in texts(watched.rag, LIGHTHOUSE_Q)


def test_a_renamed_file_is_removed_under_its_old_name_and_indexed_under_its_new_one(watched):
    old, new = watched.folder / "old.txt", watched.folder / "new.txt"
    old.write_text(LIGHTHOUSE, encoding="utf-8")
    wait_until(lambda: str(old) in sources(watched.rag), what="old.txt is indexed")
    old.rename(new)
    wait_until(lambda: str(new) in sources(watched.rag), what="new.txt is indexed")
    wait_until(lambda: str(old) not in sources(watched.rag), what="old.txt is removed")
    assert watched.rag.retrieve(LIGHTHOUSE_Q, k=1)[0].source == str(new)


def test_a_file_still_being_written_is_indexed_once_whole(watched):
    big = watched.folder / "copy.txt"
    pending = watched.watcher.pending
    with open(big, "w", encoding="utf-8") as out:
        out.write(LIGHTHOUSE + "\n\n")
        out.flush()
        wait_until(lambda: str(big) in pending(), what="the watcher saw the copy begin")
        began = time.monotonic()
        line = 0
        while time.monotonic() - began < 3 * watched.watcher.quiet_s:  # longer than the quiet time
            seen = pending()[str(big)]
            out.write(f"Line {line} of the copy, still being written.\n")
            out.flush()
            wait_until(lambda: pending().get(str(big), 0) > seen, what="the watcher saw this write")
            line += 1
        assert str(big) not in sources(watched.rag)  # nothing indexed while the file grows
        out.write("\n" + ORCHARD + "\n")
    wait_until(lambda: str(big) in sources(watched.rag), what="the copy is indexed")
    assert watched.rag.retrieve(ORCHARD_Q, k=1)[0].source == str(big)  # its last line is in
    assert count(watched.reports, "added", big) == 1 and count(watched.reports, "updated", big) == 0


def test_a_burst_of_a_thousand_files_is_a_few_batches(watched):
    names = [watched.folder / "burst" / f"parcel-{i:04}.txt" for i in range(1000)]
    names[0].parent.mkdir()
    for i, path in enumerate(names):
        path.write_text(f"Parcel {i:04} for the harbour of Concarneau weighs {i + 3} kilograms.",
                        encoding="utf-8")
    wanted = {str(p) for p in names} | {str(watched.folder / ARTICLE.name)}
    wait_until(lambda: sources(watched.rag) == wanted, timeout=600, what="all 1,000 files indexed")
    assert sum(len(r.added) for r in watched.reports[1:]) == 1000  # each file added once
    assert watched.watcher.ingest_calls - 1 <= 20  # the start-up sync, then a few batches


def test_the_start_up_sync_catches_up_with_what_changed_unwatched(tmp_path, make_rag):
    folder, elsewhere = tmp_path / "watched", tmp_path / "elsewhere"
    folder.mkdir(), elsewhere.mkdir()
    kept, changed, deleted = (folder / n for n in ("kept.txt", "changed.txt", "deleted.txt"))
    outside = elsewhere / "outside.txt"
    for path in (kept, changed, deleted, outside):
        path.write_text(f"{path.stem}: {LIGHTHOUSE}", encoding="utf-8")
    rag = make_rag()
    assert len(rag.ingest([folder, elsewhere]).added) == 4
    changed.write_text(ORCHARD, encoding="utf-8")  # while no watcher runs
    deleted.unlink()
    outside.unlink()  # gone too, but not under the watched folder: not the watcher's to forget
    added = folder / "added.txt"
    added.write_text("added: " + ORCHARD, encoding="utf-8")
    w = start(rag, folder)
    try:
        sync = w.reports[0]
        assert (sync.added, sync.updated, sync.removed, sync.unchanged) == (
            [str(added)], [str(changed)], [str(deleted)], [str(kept)])
        assert sources(rag) == {str(kept), str(changed), str(added), str(outside)}
        assert "forty kinds" in texts(rag, ORCHARD_Q)
    finally:
        w.watcher.stop()


def test_hidden_excluded_and_unsupported_files_are_left_alone(tmp_path, make_rag):
    folder = tmp_path / "watched"
    folder.mkdir()
    w = start(make_rag(), folder, exclude=["drafts"])
    try:
        (folder / "drafts").mkdir()
        ignored = [folder / ".hidden.txt", folder / "drafts" / "draft.txt", folder / "photo.raw"]
        for path in ignored:
            path.write_text(LIGHTHOUSE, encoding="utf-8")
        assert not set(map(str, ignored)) & set(w.watcher.pending())
        note = folder / "note.txt"  # written after them: indexed once they would have been
        note.write_text(ORCHARD, encoding="utf-8")
        wait_until(lambda: str(note) in sources(w.rag), what="note.txt is indexed")
        assert sources(w.rag) == {str(note)}
    finally:
        w.watcher.stop()


def test_a_folder_moved_in_is_indexed_and_moved_out_removed(tmp_path, make_rag, watched):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_text(LIGHTHOUSE, encoding="utf-8")
    (outside / "b.txt").write_text(ORCHARD, encoding="utf-8")
    inside = watched.folder / "moved"
    outside.rename(inside)
    files = {str(inside / "a.txt"), str(inside / "b.txt")}
    wait_until(lambda: files <= sources(watched.rag), what="the moved-in folder's files are indexed")
    inside.rename(tmp_path / "gone")
    wait_until(lambda: not files & sources(watched.rag), what="the moved-out folder's files are removed")


def test_another_writer_holding_the_lock_delays_the_update(tmp_path, make_rag):
    folder = tmp_path / "watched"
    folder.mkdir()
    rag = make_rag()
    w = start(rag, folder, retry_s=0.2)
    try:
        note = folder / "note.txt"
        with FileLock(str(rag.settings.data_dir / "write.lock")):
            note.write_text(LIGHTHOUSE, encoding="utf-8")
            wait_until(lambda: str(note) in w.watcher.pending(), what="the watcher saw note.txt")
            first = w.watcher.pending()[str(note)]
            # put back to wait, with the lock still held: it was looked at and could not be written
            wait_until(lambda: w.watcher.pending().get(str(note), first) > first + 0.1,
                       what="the update was put off")
            assert not sources(rag) and w.watcher.ingest_calls == 1
        wait_until(lambda: str(note) in sources(rag), what="note.txt is indexed once the lock is free")
    finally:
        w.watcher.stop()


def test_a_failed_batch_is_tried_again_and_the_watcher_goes_on(tmp_path, make_rag, monkeypatch):
    folder = tmp_path / "watched"
    folder.mkdir()
    rag = make_rag()
    w = start(rag, folder, retry_s=0.2)
    try:
        ingest, calls = rag.ingest, []

        def failing_once(*args, **kwargs):
            calls.append(args)
            if len(calls) == 1:
                raise OSError("the disk is full")
            return ingest(*args, **kwargs)

        monkeypatch.setattr(rag, "ingest", failing_once)
        note = folder / "note.txt"
        note.write_text(LIGHTHOUSE, encoding="utf-8")
        wait_until(lambda: str(note) in sources(rag), what="note.txt is indexed at the second try")
        assert len(calls) == 2 and w.watcher._thread.is_alive()
    finally:
        w.watcher.stop()


def test_watch_help_explains_the_debounce(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["watch", "--help"])
    assert exit.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--quiet-seconds S" in out and "no change for S seconds" in out
    assert "size and modification time" in out and "--include GLOB" in out and "--exclude GLOB" in out


def test_watch_command_indexes_a_new_file_and_stops_on_ctrl_c(tmp_path, make_rag):
    folder, data = tmp_path / "watched", tmp_path / "data"
    folder.mkdir()
    out = tmp_path / "watch.out"
    with open(out, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "rag", "--data-dir", str(data), "watch",
                                    str(folder), "--quiet-seconds", "0.5"],
                                   cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        printed = lambda: out.read_text(encoding="utf-8", errors="replace")  # noqa: E731
        wait_until(lambda: "start-up sync:" in printed() or process.poll() is not None,
                   timeout=180, what="rag watch started")
        note = folder / "note.txt"
        note.write_text(LIGHTHOUSE, encoding="utf-8")
        wait_until(lambda: "indexed 1, updated 0, removed 0" in printed() or process.poll() is not None,
                   timeout=120, what="rag watch indexed note.txt")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, printed()
    finally:
        if process.poll() is None:
            process.kill()
    assert f"watching {folder}" in printed()
    assert sources(make_rag()) == {str(note)}


def test_a_watched_file_is_followed_alone(tmp_path, make_rag):
    folder = tmp_path / "folder"
    folder.mkdir()
    note, neighbour = folder / "note.txt", folder / "neighbour.txt"
    note.write_text(LIGHTHOUSE, encoding="utf-8")
    rag = make_rag()
    reports = []
    with Watcher(rag, [note], on_batch=lambda line, report: reports.append(report)) as watcher:
        wait_until(watcher.synced.is_set, what="the start-up sync is done")
        assert reports[0].added == [str(note)]
        neighbour.write_text(ORCHARD, encoding="utf-8")  # beside it, not watched
        tmp = folder / "note.txt.tmp"
        tmp.write_text(ORCHARD, encoding="utf-8")
        os.replace(tmp, note)  # a new inode: the watch is on the folder, so it is still seen
        wait_until(lambda: count(reports, "updated", note) == 1, what="note.txt is updated")
        assert sources(rag) == {str(note)}


def test_walk_takes_agrees_with_iter_files(tmp_path):
    root = tmp_path / "root"
    names = ["a.txt", "b.md", "c.tmp", ".hidden.txt", ".git/config.txt", "sub/d.txt", "sub/.e.md",
             "drafts/f.txt", "sub/drafts/g.txt", "2021/h.txt", "2021/i.md", "x/.cache/j.txt"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("text", encoding="utf-8")
    for hidden in (False, True):
        for include, exclude in [((), ()), ((), ("drafts",)), (("*.txt",), ()), (("2021/*.txt", "*.md"), ("sub",))]:
            walked, _ = iter_files([root], include_hidden=hidden, include=include, exclude=exclude)
            taken = {p for p in (root / n for n in names)
                     if walk_takes(root, p, include_hidden=hidden, include=include, exclude=exclude)}
            assert taken == set(walked), (hidden, include, exclude)
    assert walk_takes(root / "a.txt", root / "a.txt") and not walk_takes(root / "a.txt", root / "b.md")
    assert walk_takes(root, root / "sub", is_dir=True)
    assert not walk_takes(root, root / "drafts", is_dir=True, exclude=["drafts"])
    assert not walk_takes(root, root / ".git", is_dir=True)
