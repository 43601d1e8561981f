"""DOCX: the body's paragraphs and tables in reading order, extracted with python-docx.

Offsets index the extracted text (`LoadedDocument.text`): blocks (paragraphs, tables) are
separated by a blank line; a table gives one line per row, cells separated by " | ". The zip is
checked before parsing, so a zip bomb is refused without being unpacked; python-docx is imported
on first use.
"""

from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.base import LoadedDocument, LoadError, read_bytes, register
from ingest.loaders.text import cap_title, first_line

MAX_UNPACKED_BYTES = 200 << 20
MAX_COMPRESSION_RATIO = 100
CELL_SEPARATOR = " | "
NOT_A_ZIP = "not a DOCX file (not a readable zip archive)"
CORRUPT = "corrupt or unsupported DOCX file"


@register((".docx",))
def load_docx(path: Path) -> LoadedDocument:
    """Load a Word document; raises LoadError for unreadable, corrupt, oversized or empty files."""
    data = read_bytes(path)
    if not data:
        raise LoadError(path, "empty file")
    _check_zip(path, data)
    from docx import Document

    try:
        document = Document(BytesIO(data))
        blocks = [_block(item) for item in document.iter_inner_content()]
        core_title = document.core_properties.title
    except Exception:  # malformed packages make python-docx raise many exception types
        raise LoadError(path, CORRUPT) from None
    text = "\n\n".join(block for block, _ in blocks if block)
    if not text:
        raise LoadError(path, "no text content")
    heading = next((block for block, is_heading in blocks if block and is_heading), None)
    title = core_title if core_title and core_title.strip() else heading
    return LoadedDocument(
        source=str(path),
        text=text,
        title=cap_title(title) if title else first_line(text),
        date=None,
        pages=None,
        language=detect_language(text),
    )


def _check_zip(path: Path, data: bytes) -> None:
    """Refuse a file that is not a zip, or that would unpack too large (a zip bomb), judging by
    the sizes its central directory declares (zipfile never unpacks more than declared)."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, NotImplementedError):
        raise LoadError(path, NOT_A_ZIP) from None
    unpacked = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    if unpacked > MAX_UNPACKED_BYTES:
        size, limit = unpacked / (1 << 20), MAX_UNPACKED_BYTES >> 20
        raise LoadError(path, f"unpacks to {size:.1f} MB, over the {limit} MB limit")
    if unpacked > MAX_COMPRESSION_RATIO * max(packed, 1):
        raise LoadError(
            path, f"compression ratio over {MAX_COMPRESSION_RATIO}:1 (zip bomb?); not unpacked"
        )


def _block(item) -> tuple[str, bool]:
    """(text, is a heading) of a body paragraph or table."""
    from docx.table import Table

    if isinstance(item, Table):
        return _table_text(item), False
    style = (item.style.name if item.style is not None else None) or ""
    return item.text.strip(), style.startswith("Heading") or style == "Title"


def _table_text(table) -> str:
    """One line per row, cells separated by CELL_SEPARATOR; a merged cell counts once."""
    lines = []
    for row in table.rows:
        cells = row.cells
        texts = []
        i = 0
        while i < len(cells):
            texts.append(" ".join(cells[i].text.split()))
            i += cells[i].grid_span
        if any(texts):
            lines.append(CELL_SEPARATOR.join(texts))
    return "\n".join(lines)
