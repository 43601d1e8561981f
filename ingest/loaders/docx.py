"""DOCX: the body's paragraphs and tables in reading order, extracted with python-docx.

Offsets index the extracted text (`LoadedDocument.text`): blocks (paragraphs, tables) are
separated by a blank line; a table gives one line per row, cells separated by " | ". The zip is
checked before parsing (``archive.read_zip``), so a zip bomb is refused without being unpacked;
python-docx is imported on first use.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.archive import not_a_zip, read_zip
from ingest.loaders.base import LoadedDocument, LoadError, register
from ingest.loaders.text import cap_title, first_line

CELL_SEPARATOR = " | "
NOT_A_ZIP = not_a_zip("DOCX")
CORRUPT = "corrupt or unsupported DOCX file"


@register((".docx",))
def load_docx(path: Path) -> LoadedDocument:
    """Load a Word document; raises LoadError for unreadable, corrupt, oversized or empty files."""
    data = read_zip(path, "DOCX")
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
