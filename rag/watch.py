"""``rag watch``: keep the index in step with folders as their files change (watchdog).

File system events only say which paths to look at again; what is done is decided by looking.
Debounce: a path is acted on once no event has come for it for ``quiet_s`` seconds AND its size
and modification time are the same at two looks in a row (a file still being written, copied or
saved waits, each event or change starting the quiet time again). The paths ready together are
one batch: those that exist one ``rag.ingest`` call (which skips unchanged files by hash), those
gone one ``rag.remove`` call. A move is the removal of its source and the creation of its
destination, so an editor's save-by-rename (write ``note.txt.tmp``, rename it over ``note.txt``)
is one update of ``note.txt``; the temporary name, of no supported type or hidden, is never
indexed. Only the files ``iter_files`` would take from the watched paths (supported suffixes,
hidden names, the include/exclude globs) are looked at. At start, the watched paths are synced
(``rag.ingest(paths, prune=True)``: what changed while nothing watched). A batch that fails, or
finds another writer holding the data dir's write lock, is tried again ``retry_s`` later: the
watcher never stops for it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .indexer import IngestReport, Progress

if TYPE_CHECKING:
    from .api import RAG

log = logging.getLogger(__name__)

QUIET_S = 1.0  # seconds without an event before a path is looked at (--quiet-seconds)
RETRY_S = 5.0  # seconds before a batch that failed, or found the write lock taken, is tried again
EVENTS = {"created", "modified", "moved", "deleted", "closed"}  # not opened, attrib, closed_no_write
OnBatch = Callable[[str, IngestReport], None]  # on_batch(line, report), after each batch


@dataclass
class _Pending:
    changed: float  # monotonic time of its last event (or of a change seen at a look)
    look: tuple[int, int] | None = None  # (size, mtime_ns) at the last look; None: gone
    looked: bool = False


class Watcher:
    """Watch ``paths`` (folders, recursively, or files) and keep ``rag``'s index in step.

    >>> with Watcher(rag, ["docs/"]) as watcher:    # or watcher.start() ... watcher.stop()
    ...     watcher.join()                          # until stopped (Ctrl-C)

    ``on_batch(line, report)`` gets each batch's report and its one-line summary (default: logged).
    ``pending()``, ``ingest_calls`` and ``synced`` (set once the start-up sync is done) say where
    it stands. ``progress`` is shown for the start-up sync."""

    def __init__(self, rag: RAG, paths: Iterable[str | Path], *, include: Iterable[str] = (),
                 exclude: Iterable[str] = (), quiet_s: float = QUIET_S, retry_s: float = RETRY_S,
                 on_batch: OnBatch | None = None, progress: Progress | None = None):
        self.rag = rag
        self.roots = [Path(p).expanduser().resolve() for p in paths]
        for root in self.roots:
            if not root.exists():
                raise UsageError(f"cannot watch {root}: no such file or folder")
        if quiet_s < 0 or retry_s < 0:
            raise UsageError("quiet_s and retry_s are seconds, at least 0")
        self.include, self.exclude = list(include), list(exclude)
        self.quiet_s, self.retry_s = quiet_s, retry_s
        self.on_batch = on_batch or (lambda line, report: log.info("%s", line))
        self.progress = progress
        self.ingest_calls = 0
        self.synced = threading.Event()
        self._tick_s = min(max(quiet_s / 4, 0.02), 0.25)
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sync_at = 0.0  # monotonic time of the next start-up sync attempt
        self._observer = self._thread = None

    # -- running ----------------------------------------------------------------------------
    def start(self) -> Watcher:
        """Start watching (events are collected from now on), then sync and follow the changes
        in a background thread."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        handler = FileSystemEventHandler()
        handler.dispatch = self._on_event
        self._observer = Observer()
        for root in self.roots:
            watched = root if root.is_dir() else root.parent
            self._observer.schedule(handler, str(watched), recursive=root.is_dir())
        self._observer.start()
        self._thread = threading.Thread(target=self._loop, name="rag-watch", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        """Wait until the watcher is stopped (Ctrl-C interrupts the wait)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Stop watching; the batch in progress, if any, is finished first (up to ``timeout``)."""
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
        self.join(timeout)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def pending(self) -> dict[str, float]:
        """The paths waiting to be looked at, with the monotonic time of their last change."""
        with self._lock:
            return {path: entry.changed for path, entry in self._pending.items()}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # a bug on one batch must not end the watching
                log.exception("rag watch: unexpected error; going on watching")
            self._stop.wait(self._tick_s)

    def _step(self) -> None:
        if not self.synced.is_set():
            if time.monotonic() >= self._sync_at:
                self._sync()
        elif ready := self._take_ready():
            self._batch(ready)

    # -- events and the debounce ------------------------------------------------------------
    def _on_event(self, event) -> None:
        if event.event_type not in EVENTS or (event.is_directory and event.event_type == "modified"):
            return  # a folder's 'modified' is a change of its entries, each with its own event
        paths = [event.src_path] + ([event.dest_path] if event.event_type == "moved" else [])
        now = time.monotonic()
        for path in map(os.fsdecode, paths):
            if self._takes(Path(path), is_dir=event.is_directory):
                with self._lock:
                    self._pending[path] = _Pending(now)

    def _takes(self, path: Path, *, is_dir: bool = False) -> bool:
        from ingest.discover import walk_takes

        return any(walk_takes(root, path, is_dir=is_dir, include_hidden=self.rag.settings.include_hidden,
                              include=self.include, exclude=self.exclude) for root in self.roots)

    def _take_ready(self) -> list[str]:
        """The pending paths quiet for ``quiet_s`` and unchanged between two looks, taken out."""
        now, ready = time.monotonic(), []
        with self._lock:
            for path, entry in list(self._pending.items()):
                if now - entry.changed < self.quiet_s:
                    continue
                look = _look(path)
                if entry.looked and look == entry.look:
                    ready.append(path)
                    del self._pending[path]
                    continue
                if entry.looked:  # changed with no event (say, on a network file system)
                    entry.changed = now
                entry.look, entry.looked = look, True
        return ready

    def _again(self, paths: list[str], delay: float) -> None:
        """Look at ``paths`` again after ``delay`` seconds (unless a newer event came)."""
        when = time.monotonic() + delay - self.quiet_s
        with self._lock:
            for path in paths:
                self._pending.setdefault(path, _Pending(when))

    # -- writing ----------------------------------------------------------------------------
    def _sync(self) -> None:
        if not self._lock_free():
            self._sync_at = time.monotonic() + self.retry_s
            return
        try:
            self.ingest_calls += 1
            report = self.rag.ingest(self.roots, prune=True, include=self.include,
                                     exclude=self.exclude, progress=self.progress)
        except Exception as exc:
            log.warning("rag watch: the start-up sync failed (%s); trying again in %g s",
                        str(exc) or type(exc).__name__, self.retry_s)
            self._sync_at = time.monotonic() + self.retry_s
            return
        self.synced.set()
        self.on_batch(f"start-up sync: {summary(report)}", report)

    def _batch(self, paths: list[str]) -> None:
        files = self._files([p for p in paths if os.path.exists(p)])
        gone = self._stored_under([p for p in paths if not os.path.exists(p)])
        if not files and not gone:
            return  # only temporary or unselected names
        if not self._lock_free():
            log.warning("rag watch: another writer holds %s; trying again in %g s",
                        self.rag.settings.data_dir / "write.lock", self.retry_s)
            return self._again(paths, self.retry_s)
        try:
            report = IngestReport()
            if files:
                self.ingest_calls += 1
                report = self.rag.ingest(files, include=self.include, exclude=self.exclude)
            if gone:
                report.removed.extend(self.rag.remove(gone))
        except Exception as exc:
            log.warning("rag watch: an update failed (%s); trying again in %g s",
                        str(exc) or type(exc).__name__, self.retry_s)
            return self._again(paths, self.retry_s)
        self.on_batch(summary(report), report)

    def _files(self, paths: list[str]) -> list[Path]:
        """The files to ingest: each existing file taken, and those a new folder holds (but not
        those still pending: being written, they wait for their own quiet time)."""
        from ingest.discover import iter_files

        files: list[Path] = []
        for path in map(Path, paths):
            if path.is_dir():
                found, _ = iter_files([path], include_hidden=self.rag.settings.include_hidden,
                                      include=self.include, exclude=self.exclude)
                busy = set(self.pending())
                files.extend(f for f in found if self._takes(f) and str(f) not in busy)
            elif self._takes(path):
                files.append(path)
        return list(dict.fromkeys(files))

    def _stored_under(self, paths: list[str]) -> list[str]:
        """The indexed documents at or under ``paths`` (gone: a file, or a folder moved away)."""
        if not paths:
            return []
        return sorted(s for s in self.rag.store.documents()
                      if any(s == p or s.startswith(p + os.sep) for p in paths))

    def _lock_free(self) -> bool:
        """Whether no other writer holds the data dir's write lock now (the write itself takes
        it again, as every writer does: this only keeps the watcher from waiting on it)."""
        from filelock import FileLock, Timeout

        self.rag.settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.rag.settings.data_dir / "write.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        lock.release()
        return True


def summary(report: IngestReport) -> str:
    """A batch's one line: "indexed 3, updated 1, removed 2, unchanged 0; failed: name — reason"."""
    from .cli_output import one_line

    line = (f"indexed {len(report.added)}, updated {len(report.updated)}, removed "
            f"{len(report.removed)}, unchanged {len(report.unchanged)}")
    failed = [f"{Path(path).name} — {' '.join(reason.split())}" for path, reason in report.failed]
    return one_line(line + (f"; failed: {'; '.join(failed)}" if failed else ""))


def _look(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns
