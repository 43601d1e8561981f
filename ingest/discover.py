"""Finding the files to ingest, and hashing their content."""

from __future__ import annotations

import errno
import hashlib
import os
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Iterable

from ingest.loaders import supported_suffixes
from ingest.loaders.base import unsupported_reason

HASH_BLOCK_BYTES = 1 << 20

NO_SUCH_FILE = "no such file or directory"


def iter_files(
    paths: Iterable[str | Path], *, include_hidden: bool = False,
    include: Iterable[str] = (), exclude: Iterable[str] = (),
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders (recursively) into the supported files they hold.

    Returns (files, problems): absolute resolved paths, deduplicated, in argument order with each
    folder walked in sorted order; and (path, reason) for missing paths, explicitly named files
    of an unsupported type, broken links, link loops, names that are not UTF-8 and unreadable
    folders. Hidden entries (name starting with '.') are skipped inside folders unless
    `include_hidden`; named paths are always taken. Symbolic links are followed, each real folder
    is walked once (so link loops end).
    With `include`, only files that match one of its globs are kept; files that match one of
    `exclude` are dropped, and excluded folders are not walked (see `matches`).
    """
    include, exclude = list(include), list(exclude)
    suffixes = supported_suffixes()
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen_files: set[Path] = set()
    seen_dirs: set[Path] = set()

    def add(path: Path) -> None:
        resolved = path.resolve()
        if resolved in seen_files or not selected(resolved, include, exclude):
            return
        seen_files.add(resolved)
        try:
            str(resolved).encode("utf-8")
        except UnicodeEncodeError:  # the store keeps paths as UTF-8 text
            problems.append((str(path), "file name is not valid UTF-8"))
            return
        files.append(resolved)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for found in _walk(path, include_hidden, exclude, seen_dirs, problems):
                if found.suffix.lower() in suffixes:
                    add(found)
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix in suffixes:
                add(path)
            elif selected(path.resolve(), include, exclude):
                problems.append((str(raw), unsupported_reason(suffix)))
        elif path.exists():
            problems.append((str(raw), "not a regular file"))
        else:
            problems.append((str(raw), _missing_reason(path)))
    return files, problems


def matches(path: Path, patterns: Iterable[str]) -> bool:
    """Whether one of the glob `patterns` matches the end of `path` or of a folder holding it.

    Globs are matched name by name from the right (`*`, `?` and `[...]` stay within one name;
    case-sensitive): `*.md` matches any Markdown file, `drafts` every file under a folder named
    drafts, `2021/*.txt` the .txt files directly in a folder named 2021; a glob starting with
    '/' is anchored at the root."""
    parts = path.parts
    for pattern in patterns:
        wanted = PurePosixPath(pattern).parts
        if not wanted:
            continue
        for end in range(len(parts), len(wanted) - 1, -1):
            if all(map(fnmatchcase, parts[end - len(wanted) : end], wanted)):
                return True
    return False


def selected(path: Path, include: list[str], exclude: list[str]) -> bool:
    """Whether `path` passes the filters: it matches `include` (when given), not `exclude`."""
    return (not include or matches(path, include)) and not matches(path, exclude)


def walk_takes(
    root: str | Path, path: str | Path, *, is_dir: bool = False, include_hidden: bool = False,
    include: Iterable[str] = (), exclude: Iterable[str] = (),
) -> bool:
    """Whether `iter_files([root], ...)` would take `path`, which need not exist (any more): a
    file at or below `root` of a supported type, with no hidden name below `root` unless
    `include_hidden`, that the globs select; with `is_dir`, a folder below `root` that the walk
    would enter (not hidden, not excluded). Absolute paths, as `iter_files` returns them."""
    root, path = Path(root), Path(path)
    if path != root and root not in path.parents:
        return False
    below = path.parts[len(root.parts):]
    if not include_hidden and any(name.startswith(".") for name in below):
        return False
    if is_dir:
        return path != root and not matches(path, exclude)
    return path.suffix.lower() in supported_suffixes() and selected(path, list(include), list(exclude))


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
    root: Path, include_hidden: bool, exclude: list[str], seen_dirs: set[Path],
    problems: list[tuple[str, str]],
) -> Iterable[Path]:
    """Regular files under `root`, depth first in name order, each real folder visited once;
    folders matching `exclude` are skipped."""
    stack = [root]
    while stack:
        folder = stack.pop()
        real = folder.resolve()
        if real in seen_dirs or matches(real, exclude):
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
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()
            except OSError as error:  # e.g. a loop of file links
                problems.append((str(path), _error_reason(error)))
                continue
            if is_dir:
                subfolders.append(path)
            elif is_file:
                yield path
            elif entry.is_symlink() and not path.exists():
                problems.append((str(path), _missing_reason(path)))
        stack.extend(reversed(subfolders))


def _error_reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    return (error.strerror or str(error)).lower()


def _missing_reason(path: Path) -> str:
    """Why a path that does not exist (for Path.exists) cannot be read."""
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return _error_reason(error)
    return "broken symbolic link" if path.is_symlink() else NO_SUCH_FILE

