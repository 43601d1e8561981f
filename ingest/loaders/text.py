"""Plain text and Markdown: the extracted text is the file's decoded content, unchanged.

Bytes are decoded without newline translation (see `decoding`), so for a UTF-8 file
`path.read_bytes().decode("utf-8")[start:end]` is exactly the chunk text (and so is
`path.read_text(encoding="utf-8")[start:end]` when the file has no CR line endings).

Header convention: a first line `date YYYY-MM[-DD] <headline>` (leading whitespace allowed)
gives the document's date and title; the line stays part of the text.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.base import LoadedDocument, LoadError, read_bytes, register
from ingest.loaders.decoding import decode_bytes

TITLE_MAX_CHARS = 200

_HEADER = re.compile(r"date[ \t]+(\d{4})-(\d{2})(?:-(\d{2}))?(?:[ \t]+(.*))?", re.IGNORECASE)
_MD_HEADING = re.compile(r" {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?")
_MD_FENCE = re.compile(r" {0,3}(?:```|~~~)")
_LEADING_BLANK = re.compile(r"[\s\ufeff]*")
_LINE_BREAK = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


@register((".txt", ".md"))
def load_text(path: Path) -> LoadedDocument:
    """Load a .txt or .md file; raises LoadError for unreadable, binary or empty files."""
    data = read_bytes(path)
    try:
        text = decode_bytes(data)
    except ValueError as error:
        raise LoadError(path, str(error)) from None
    if not text.replace("\ufeff", "").strip():
        raise LoadError(path, "empty file")
    date, title, body = parse_header(text)
    markdown = path.suffix.lower() == ".md"
    if title is None and markdown:
        title = markdown_title(body)
    if title is None:
        title = first_line(body)
    return LoadedDocument(
        source=str(path),
        text=text,
        title=title,
        date=date,
        pages=None,
        language=detect_language(text),
        sections=markdown_sections(text) if markdown else (),
    )


def parse_header(text: str) -> tuple[str | None, str | None, str]:
    """(date, headline, text after the header line) when the first line is a date header.

    Without a valid header: (None, None, text). A header without headline gives a None title.
    """
    start = _LEADING_BLANK.match(text).end()
    line_break = _LINE_BREAK.search(text, start)
    line_end = line_break.start() if line_break else len(text)
    match = _HEADER.fullmatch(text[start:line_end].rstrip())
    if match is None:
        return None, None, text
    year, month, day, headline = match.groups()
    date = _valid_date(int(year), int(month), int(day) if day else None)
    if date is None:
        return None, None, text
    title = cap_title(headline) if headline and headline.strip() else None
    return date, title, text[line_end:]


def markdown_title(text: str) -> str | None:
    """Text of the first ATX heading ('# Title') outside fenced code blocks."""
    sections = markdown_sections(text)
    return cap_title(sections[0][1]) if sections else None


def markdown_sections(text: str) -> tuple[tuple[int, str], ...]:
    """(offset of the line, heading text) of every ATX heading outside fenced code blocks."""
    sections, in_fence, offset = [], False, 0
    for line in text.splitlines(keepends=True):
        if _MD_FENCE.match(line):
            in_fence = not in_fence
        else:
            match = None if in_fence else _MD_HEADING.fullmatch(line.rstrip())
            if match and match.group(1).strip():
                sections.append((offset, " ".join(match.group(1).split())))
        offset += len(line)
    return tuple(sections)


def first_line(text: str) -> str | None:
    """The first non-empty line, trimmed and capped."""
    for line in text.splitlines():
        stripped = line.replace("\ufeff", "").strip()
        if stripped:
            return cap_title(stripped)
    return None


def cap_title(title: str) -> str:
    """Collapse inner whitespace and cap at TITLE_MAX_CHARS, cutting at a word boundary."""
    title = " ".join(title.split())
    if len(title) <= TITLE_MAX_CHARS:
        return title
    cut = title.rfind(" ", 0, TITLE_MAX_CHARS)
    return title[: cut if cut > TITLE_MAX_CHARS // 2 else TITLE_MAX_CHARS].rstrip() + "…"


def _valid_date(year: int, month: int, day: int | None) -> str | None:
    try:
        dt.date(year, month, day or 1)
    except ValueError:
        return None
    return f"{year:04d}-{month:02d}" + (f"-{day:02d}" if day else "")

