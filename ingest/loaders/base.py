"""Loader registry: one function per file type, chosen by the file's suffix.

A loader is a function `(path: Path) -> LoadedDocument` registered with `@register((".ext",))`.
It must raise `LoadError` (never another exception) for files it cannot turn into text. A loader
registered with `options=(...)` also takes those of `load`'s keyword-only options: `max_pages:
int | None` (refuse files with more pages before extracting them; `paged=True` is
`options=("max_pages",)`) and `ocr: ingest.loaders.ocr.Ocr | None` (how scans are read; None:
the defaults). `load` forwards to each loader only the options it takes.

A type whose files can be large and read a piece at a time (plain text) also registers a parts
loader with `@register_parts((".ext",))`: a function `(path: Path) -> Iterator[LoadedDocument]`
yielding the document's consecutive parts, each with its `offset`. `load_parts` uses it, so
memory is bounded by a part's size, not the file's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

Label = TypeVar("Label")
Loader = Callable[[Path], "LoadedDocument"]
PartsLoader = Callable[[Path], Iterator["LoadedDocument"]]

_LOADERS: dict[str, Loader] = {}
_OPTIONS: dict[Loader, tuple[str, ...]] = {}  # the options of `load` each loader takes
_PARTS: dict[str, PartsLoader] = {}


@dataclass(frozen=True)
class LoadedDocument:
    """Text extracted from one file; every offset in the pipeline indexes into `text`."""

    source: str  # absolute path of the file
    text: str
    title: str | None
    date: str | None  # 'YYYY-MM' or 'YYYY-MM-DD'
    pages: tuple[tuple[int, int, int], ...] | None  # (page_number, start, end); None for text
    language: str  # 'fr' or 'en'
    sections: tuple[tuple[int, str], ...] = ()  # (start, heading): Markdown headings, in order
    # Where `text` starts in the document's whole text: 0 but for the parts of `load_parts`,
    # whose `text`, `pages` and `sections` offsets are the part's own.
    offset: int = 0
    # Files the document carries (a mail's attachments) as (file name, bytes): the indexer
    # stores and indexes each as a document of its own.
    attachments: tuple[tuple[str, bytes], ...] = ()


_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def calendar_date(text: str) -> str | None:
    """``text`` when it is 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD' naming a real calendar date (no
    month 13, no February 30), else None: the one date check of documents' dates (the loaders)
    and of filter dates (``rag.Filters``)."""
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(g) if g else 1 for g in match.groups())
    try:
        dt.date(year, month, day)
    except ValueError:
        return None
    return text


BLOCK_SEPARATOR = "\n\n"


def join_spans(pieces: Iterable[tuple[Label, str]]) -> tuple[str, list[tuple[Label, int, int]]]:
    """The texts of ``(label, text)`` pieces joined by BLOCK_SEPARATOR, and each piece's
    ``(label, start, end)`` in the joined text: how a loader builds ``pages`` (label: the page
    number) or ``sections`` (label: the heading, or None) as it joins pages, slides, blocks or
    chapters."""
    texts, spans, start = [], [], 0
    for label, text in pieces:
        texts.append(text)
        spans.append((label, start, start + len(text)))
        start += len(text) + len(BLOCK_SEPARATOR)
    return BLOCK_SEPARATOR.join(texts), spans


class LoadError(Exception):
    """A file that cannot be loaded; `str(error)` is the short human reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def register(suffixes: tuple[str, ...], *, paged: bool = False,
             options: tuple[str, ...] = ()) -> Callable[[Loader], Loader]:
    """Decorator registering a loader for the given suffixes ('.txt', ...; case-insensitive);
    `options`: the keyword-only options of `load` it takes (`paged`: `max_pages`)."""

    def decorator(loader: Loader) -> Loader:
        for suffix in suffixes:
            if not suffix.startswith("."):
                raise ValueError(f"suffix must start with '.': {suffix!r}")
            _LOADERS[suffix.lower()] = loader
        _OPTIONS[loader] = tuple(dict.fromkeys((*(("max_pages",) if paged else ()), *options)))
        return loader

    return decorator


def register_parts(suffixes: tuple[str, ...]) -> Callable[[PartsLoader], PartsLoader]:
    """Decorator registering a parts loader (see the module's doc) for suffixes that also have
    a whole-file loader."""

    def decorator(loader: PartsLoader) -> PartsLoader:
        for suffix in suffixes:
            _PARTS[suffix.lower()] = loader
        return loader

    return decorator


def streamed_suffixes() -> frozenset[str]:
    """Lower-cased suffixes whose files `load_parts` reads a part at a time."""
    return frozenset(_PARTS)


def supported_suffixes() -> frozenset[str]:
    """Lower-cased suffixes (with the dot) that `load` accepts."""
    return frozenset(_LOADERS)


def load(path: str | Path, *, max_pages: int | None = None, ocr=None) -> LoadedDocument:
    """Load `path` with the loader registered for its suffix; raises LoadError. `max_pages`
    (None: no limit) refuses paged documents (PDF) with more pages; `ocr` (an
    ``ingest.loaders.ocr.Ocr``; None: its defaults) says how scans are read. A type ignores
    the options it has no use for."""
    resolved = Path(path).expanduser().resolve()
    suffix = resolved.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise LoadError(resolved, unsupported_reason(suffix))
    given = {"max_pages": max_pages, "ocr": ocr}
    return loader(resolved, **{name: given[name] for name in _OPTIONS.get(loader, ())})


def load_parts(path: str | Path, *, max_pages: int | None = None, ocr=None) -> Iterator[LoadedDocument]:
    """The document as consecutive parts: ``"".join(p.text for p in parts)`` is ``load(path).text``
    and each part's `offset` is where its text starts in it. Most types come whole, as one part;
    large text files come a few MB at a time. Raises LoadError, possibly after some parts."""
    resolved = Path(path).expanduser().resolve()
    parts = _PARTS.get(resolved.suffix.lower())
    if parts is None:
        yield load(resolved, max_pages=max_pages, ocr=ocr)
    else:
        yield from parts(resolved)


def unsupported_reason(suffix: str) -> str:
    """The LoadError/problem reason for a file whose suffix has no loader."""
    return f"unsupported file type '{suffix}'" if suffix else "unsupported file type (no extension)"


def read_bytes(path: Path) -> bytes:
    """The file's bytes, with OS failures turned into LoadError."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise LoadError(path, (error.strerror or str(error)).lower()) from error
