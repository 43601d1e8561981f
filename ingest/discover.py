"""Finding the files to ingest, and hashing their content."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

from ingest.loaders import supported_suffixes
from ingest.loaders.base import unsupported_reason

HASH_BLOCK_BYTES = 1 << 20

NO_SUCH_FILE = "no such file or directory"


def iter_files(
    paths: Iterable[str | Path], *, include_hidden: bool = False
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders (recursively) into the supported files they hold.

    Returns (files, problems): absolute resolved paths, deduplicated, in argument order with each
    folder walked in sorted order; and (path, reason) for missing paths, explicitly named files
    of an unsupported type, broken links and unreadable folders. Hidden entries (name starting
    with '.') are skipped inside folders unless `include_hidden`; named paths are always taken.
    Symbolic links are followed, each real folder is walked once (so link loops end).
    """
    suffixes = supported_suffixes()
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen_files: set[Path] = set()
    seen_dirs: set[Path] = set()

    def add(path: Path) -> None:
        resolved = path.resolve()
        if resolved not in seen_files:
            seen_files.add(resolved)
            files.append(resolved)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for found in _walk(path, include_hidden, seen_dirs, problems):
                if found.suffix.lower() in suffixes:
                    add(found)
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix in suffixes:
                add(path)
            else:
                problems.append((str(raw), unsupported_reason(suffix)))
        elif path.exists():
            problems.append((str(raw), "not a regular file"))
        else:
            problems.append((str(raw), NO_SUCH_FILE))
    return files, problems


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of `data`."""
    return hashlib.sha256(data).hexdigest()


def file_hash(path: str | Path) -> str:
    """SHA-256 hex digest of a file's content, read in blocks; equals content_hash(bytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _walk(
    root: Path, include_hidden: bool, seen_dirs: set[Path], problems: list[tuple[str, str]]
) -> Iterable[Path]:
    """Regular files under `root`, depth first in name order, each real folder visited once."""
    stack = [root]
    while stack:
        folder = stack.pop()
        real = folder.resolve()
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            problems.append((str(folder), (error.strerror or str(error)).lower()))
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith(".") and not include_hidden:
                continue
            path = Path(entry.path)
            if entry.is_dir():
                subfolders.append(path)
            elif entry.is_file():
                yield path
            elif entry.is_symlink() and not path.exists():
                problems.append((str(path), "broken symbolic link"))
        stack.extend(reversed(subfolders))

