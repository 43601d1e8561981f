"""OCR of scanned pages with Tesseract (Debian's ``tesseract-ocr``, with ``fra`` and ``eng``),
run as a program: each page image goes in on stdin as PNG, its text comes out on stdout.

Measured (bench/ocr_bench.py): calling the binary directly is as fast as pytesseract (which
writes temporary files around the same binary), and Tesseract's own OpenMP threads make it
several times slower on 2 cores; so each page runs single-threaded (``OMP_THREAD_LIMIT=1``) and
pages run in parallel, one per core.

``Ocr`` holds the limits: pages per file, seconds per file. Text read from a page is kept in a
cache keyed by the page image's hash, with the languages it was read in, so reading a
document's text again (a citation's span, ``rag doctor``) gives the very text that was indexed,
at once. ``languages=None`` (a reader) takes a cached page as it is, whatever its languages."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ingest.loaders.base import LoadError

if TYPE_CHECKING:
    from PIL.Image import Image

DEFAULT_LANGUAGES = "fra+eng"
INSTALL = "apt install tesseract-ocr tesseract-ocr-fra (see docs/formats.md)"


def default_cache_dir() -> Path:
    if os.environ.get("RAG_OCR_CACHE_DIR"):
        return Path(os.environ["RAG_OCR_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag-cite" / "ocr"


@dataclass(frozen=True)
class Ocr:
    """How scans are read. ``languages``: Tesseract's ``-l`` ('fra+eng'); None: as the page was
    read when indexed (the cache), else DEFAULT_LANGUAGES. ``max_pages``: pages to OCR per file
    (None: no limit); ``timeout_s``: seconds for a file's OCR, all pages together."""

    languages: str | None = None
    max_pages: int | None = 200
    timeout_s: float = 600.0
    cache_dir: Path = field(default_factory=default_cache_dir)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)


def tesseract() -> str | None:
    """The Tesseract program, or None when it is not installed."""
    return shutil.which("tesseract")


def missing_reason(what: str) -> str:
    return f"{what}; reading it needs Tesseract OCR: {INSTALL}"


def read_pages(path: Path, images: Sequence[Callable[[], Image]], ocr: Ocr) -> list[str]:
    """The text of each page image (``images``: functions rendering each page), read in
    parallel; raises LoadError over the page or time limit, or when Tesseract fails."""
    if ocr.max_pages is not None and len(images) > ocr.max_pages:
        raise LoadError(path, f"{len(images):,} scanned pages to OCR, over the {ocr.max_pages:,}-page "
                              "limit (raise max_ocr_pages)")
    program = tesseract()
    if program is None:
        raise LoadError(path, missing_reason("a scan"))
    deadline = time.monotonic() + ocr.timeout_s
    with ThreadPoolExecutor(max(1, min(ocr.workers, len(images)))) as pool:
        jobs = [pool.submit(_page, path, n, render, ocr, program, deadline) for n, render in enumerate(images, 1)]
        try:
            return [job.result() for job in jobs]
        except LoadError:
            for job in jobs:
                job.cancel()
            raise


def _page(path: Path, number: int, render: Callable[[], Image], ocr: Ocr, program: str, deadline: float) -> str:
    buffer = io.BytesIO()
    render().save(buffer, "PNG")
    png = buffer.getvalue()
    cached = _cache_file(ocr, png)
    hit = _cached(cached, ocr.languages)
    if hit is not None:
        return hit
    languages = ocr.languages or DEFAULT_LANGUAGES
    left = deadline - time.monotonic()
    if left <= 0:
        raise LoadError(path, f"OCR over its {ocr.timeout_s:.0f} s limit (raise ocr_timeout_s)")
    try:
        done = subprocess.run([program, "stdin", "stdout", "-l", languages], input=png, capture_output=True,
                              timeout=left, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    except subprocess.TimeoutExpired:
        raise LoadError(path, f"OCR over its {ocr.timeout_s:.0f} s limit at page {number} "
                              "(raise ocr_timeout_s)") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise LoadError(path, f"OCR failed on page {number}: {message[-1] if message else 'tesseract failed'}")
    text = clean(done.stdout.decode("utf-8", "replace"))
    _store(cached, languages, text)
    return text


def clean(text: str) -> str:
    """Tesseract's output without its form feed and trailing blanks of lines and page."""
    return "\n".join(line.rstrip() for line in text.replace("\f", "").splitlines()).strip()


def _cache_file(ocr: Ocr, png: bytes) -> Path:
    digest = hashlib.sha256(png).hexdigest()
    return ocr.cache_dir / digest[:2] / f"{digest}.txt"


def _cached(file: Path, languages: str | None) -> str | None:
    """The cached text of a page: its first line names the languages it was read in."""
    try:
        read_in, _, text = file.read_text(encoding="utf-8").partition("\n")
    except OSError:
        return None
    return text if languages is None or languages == read_in else None


def _store(file: Path, languages: str, text: str) -> None:
    """Written whole or not at all (a temporary file renamed), so a crash leaves no half entry."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(f"{languages}\n{text}", encoding="utf-8")
        partial.replace(file)
    except OSError:
        pass  # a cache that cannot be written costs time on the next read, nothing else
