"""Plain text and Markdown: the extracted text is the file's decoded content, unchanged.

Bytes are decoded without newline translation (see `decoding`), so for a UTF-8 file
`path.read_bytes().decode("utf-8")[start:end]` is exactly the chunk text (and so is
`path.read_text(encoding="utf-8")[start:end]` when the file has no CR line endings).

Header convention: a first line `date YYYY-MM[-DD] <headline>` (leading whitespace allowed)
gives the document's date and title; the line stays part of the text.

A file over PART_BYTES is read in parts (`load_text_parts`), so that a file of any size is
ingested in bounded memory; its title, date and language come from its first part.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.base import (
    LoadedDocument, LoadError, calendar_date, read_bytes, register, register_parts,
)
from ingest.loaders.decoding import decode_blocks, decode_bytes, stream_encoding

TITLE_MAX_CHARS = 200
PART_BYTES = 4 << 20
"""Text files larger than this are read in parts of about this many bytes."""

_HEADER = re.compile(r"date[ \t]+(\d{4})-(\d{2})(?:-(\d{2}))?(?:[ \t]+(.*))?", re.IGNORECASE)
_MD_HEADING = re.compile(r" {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?")
_MD_FENCE = re.compile(r" {0,3}(?:```|~~~)")
_LEADING_BLANK = re.compile(r"[\s\ufeff]*")
_BREAK_CHARS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines() breaks on
_LINE_BREAK = re.compile(f"[{_BREAK_CHARS}]")


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
    markdown = path.suffix.lower() == ".md"
    return LoadedDocument(
        str(path), text, *_head(text, markdown), pages=None, language=detect_language(text),
        sections=markdown_sections(text) if markdown else (),
    )


@register_parts((".txt", ".md"))
def load_text_parts(path: Path) -> Iterator[LoadedDocument]:
    """The file as `load_text` reads it, in parts: one part unless the file is over PART_BYTES.
    Then a first read finds the encoding that `decode_bytes` would choose for the whole file,
    and a second one decodes it a block at a time, each part ending at a paragraph break,
    else a line break, else a space in its second half (else anywhere). A whitespace-only file
    comes as parts without words, not as LoadError('empty file')."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise LoadError(path, (error.strerror or str(error)).lower()) from error
    if size <= PART_BYTES:
        yield load_text(path)
        return
    try:
        encoding, errors = stream_encoding(lambda: _blocks(path))
    except ValueError as error:
        raise LoadError(path, str(error)) from None
    markdown = path.suffix.lower() == ".md"
    offset, head, in_fence, heading = 0, None, False, None
    for text in _parts(decode_blocks(_blocks(path), encoding, errors=errors)):
        if head is None:
            head, language = _head(text, markdown), detect_language(text)
        sections: tuple[tuple[int, str], ...] = ()
        if markdown:
            sections, in_fence = _sections(text, in_fence)
            if heading and not (sections and sections[0][0] == 0):
                sections = ((0, heading), *sections)  # the part starts under the last heading
            heading = sections[-1][1] if sections else heading
        yield LoadedDocument(str(path), text, *head, pages=None, language=language,
                             sections=sections, offset=offset)
        offset += len(text)


def _head(text: str, markdown: bool) -> tuple[str | None, str | None]:
    """(title, date) of a text from its header line, else its first heading or line."""
    date, title, body = parse_header(text)
    if title is None and markdown:
        title = markdown_title(body)
    if title is None:
        title = first_line(body)
    return title, date


def _blocks(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as stream:
            while block := stream.read(PART_BYTES):
                yield block
    except OSError as error:
        raise LoadError(path, (error.strerror or str(error)).lower()) from error


def _parts(texts: Iterator[str]) -> Iterator[str]:
    """The decoded blocks regrouped into parts that end at a break (see `load_text_parts`)."""
    carry = ""
    for text in texts:
        if carry and text:  # more follows: the carried text's part ends at a break
            cut = _cut(carry)
            yield carry[:cut]
            carry = carry[cut:]
        carry += text
    if carry:
        yield carry


def _cut(text: str) -> int:
    """Where to end a part: after the last paragraph break, line break or space in the text's
    second half, else at its end. At most half is carried into the next part, so no part holds
    more than two blocks' text."""
    half = len(text) // 2
    paragraph = text.rfind("\n\n", half)
    if paragraph >= 0:
        return paragraph + 2
    line = max(text.rfind(c, half) for c in _BREAK_CHARS)
    if line >= 0:
        return line + 1
    space = max(text.rfind(" ", half), text.rfind("\t", half))
    return space + 1 if space >= 0 else len(text)


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
    date = calendar_date(f"{year}-{month}" + (f"-{day}" if day else ""))
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
    return _sections(text, False)[0]


def _sections(text: str, in_fence: bool) -> tuple[tuple[tuple[int, str], ...], bool]:
    """`markdown_sections` of a text that starts inside a fenced block or not (``in_fence``),
    and whether it ends inside one."""
    sections, offset = [], 0
    for line in text.splitlines(keepends=True):
        if _MD_FENCE.match(line):
            in_fence = not in_fence
        else:
            match = None if in_fence else _MD_HEADING.fullmatch(line.rstrip())
            if match and match.group(1).strip():
                sections.append((offset, " ".join(match.group(1).split())))
        offset += len(line)
    return tuple(sections), in_fence


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



