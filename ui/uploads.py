"""Uploaded files: sanitised names, checked type and size, copied into the collection's
``uploads/`` folder (``<data_dir>/uploads/`` for the default one).

Whatever name a browser or client sends, the copy lands directly inside the uploads folder."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path

from rag import supported_suffixes

MAX_UPLOAD_MB = 50
"""Files larger than this are refused (the others of the same upload are still indexed)."""

SUPPORTED_SUFFIXES = tuple(sorted(supported_suffixes()))
MAX_NAME_CHARS = 120

_UNSAFE = re.compile(r'[<>:"|?*\x00]')  # characters Windows or shells choke on


def safe_name(name: str) -> str:
    """A harmless file name made from ``name``: only its last path component (``/`` or ``\\``),
    without control characters, ``..``, leading dots or spaces, or reserved characters; never
    empty, ``.`` or ``..``."""
    name = unicodedata.normalize("NFC", str(name))
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE.sub("_", name)
    while ".." in name:
        name = name.replace("..", ".")
    name = name.strip().lstrip(". ").rstrip(". ")
    stem, suffix = os.path.splitext(name)
    if not stem:
        stem, suffix = "upload", suffix or name
    if len(stem) + len(suffix) > MAX_NAME_CHARS:
        stem = stem[: max(1, MAX_NAME_CHARS - len(suffix))]
    return stem + suffix


def upload_dir(home: str | Path) -> Path:
    """The uploads folder of a collection whose files are in ``home`` (``RAG.collection_dir``:
    the data dir itself for the default collection)."""
    folder = (Path(home).expanduser() / "uploads").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_upload(name: str, size: int) -> str | None:
    """Why a file cannot be indexed (unsupported type, too large), or None when it can."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return (f"unsupported file type {suffix or '(no extension)'!s}: use "
                + ", ".join(SUPPORTED_SUFFIXES))
    if size > MAX_UPLOAD_MB * 1024 * 1024:
        return f"file too large ({size / 1024 / 1024:.1f} MB; the limit is {MAX_UPLOAD_MB} MB)"
    return None


def save_uploads(files, folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Copy uploaded files (paths, or (original name, path) pairs) into ``folder``.

    Returns (saved copies, [(name, reason)] for the files refused). A file whose sanitised name
    is already taken by an earlier file of the same upload gets a ``-2``, ``-3``… suffix; one
    that matches a file from an earlier upload replaces it (so re-uploading updates a document).
    """
    folder = folder.resolve()
    saved: list[Path] = []
    rejected: list[tuple[str, str]] = []
    taken: set[str] = set()
    for item in files or []:
        original, path = item if isinstance(item, tuple) else (Path(str(item)).name, str(item))
        name = safe_name(original)
        try:
            reason = check_upload(name, os.path.getsize(path))
        except OSError as exc:
            reason = f"cannot read the upload: {exc.strerror or exc}"
        if reason:
            rejected.append((name, reason))
            continue
        stem, suffix = os.path.splitext(name)
        n = 1
        while name.lower() in taken:
            n += 1
            name = f"{stem}-{n}{suffix}"
        taken.add(name.lower())
        dest = folder / name
        if Path(os.path.normpath(dest)).parent != folder or name in (".", ".."):  # belt and braces: never outside the folder
            rejected.append((name, "invalid file name"))
            continue
        try:
            _copy_into(Path(path), dest)
        except OSError as exc:
            rejected.append((name, f"cannot save the file: {exc.strerror or exc}"))
            continue
        saved.append(dest)
    return saved, rejected


def ingest_uploads(rag, files, progress=None):
    """Save uploaded ``files`` (as ``save_uploads`` takes them) into the data dir's uploads
    folder and index the copies. Returns (the ingest's report, [(name, reason)] refused)."""
    from rag.indexer import IngestReport

    saved, rejected = save_uploads(files, upload_dir(rag.collection_dir))
    if not saved:
        return IngestReport(), rejected
    return rag.ingest(saved, progress=progress), rejected


def remove_document(rag, source: str) -> list[str]:
    """Remove the document stored from ``source``; an uploaded copy (a file directly in the
    uploads folder) is deleted with it. Returns the removed paths."""
    removed = rag.remove([source])
    copy = Path(source)
    if removed and copy.parent == upload_dir(rag.collection_dir):
        copy.unlink(missing_ok=True)
    return removed


def _copy_into(src: Path, dest: Path) -> None:
    """Copy through a temporary file in the same folder, then rename over ``dest`` (a link
    planted at ``dest`` is replaced, not followed)."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
