"""PPTX: each slide's text, extracted with python-pptx; the slide is the page.

A slide's text is the text of its shapes in reading order (top to bottom, then left to right;
a group's shapes in that order within the group), then its speaker notes, one block per shape
separated by a blank line: a text frame gives its non-empty lines, a table one line per row with
cells separated by " | ". Slides are joined by a blank line and `pages` gives each slide's span
of `LoadedDocument.text`, numbered from 1; a slide without text is left out but keeps its
number. The zip is checked before parsing (``archive.read_zip``), the slides are counted
against `max_pages` before any text is read, and python-pptx is imported on first use.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.archive import not_a_zip, read_zip
from ingest.loaders.base import LoadedDocument, LoadError, join_spans, register
from ingest.loaders.pdf import too_many_pages
from ingest.loaders.text import cap_title, first_line

CELL_SEPARATOR = " | "
NOT_A_ZIP = not_a_zip("PPTX")
CORRUPT = "corrupt or unsupported PPTX file"


@register((".pptx",), paged=True)
def load_pptx(path: Path, *, max_pages: int | None = None) -> LoadedDocument:
    """Load a PowerPoint deck; raises LoadError for unreadable, corrupt, oversized or text-less
    files and for decks with more than `max_pages` slides (None: no limit)."""
    data = read_zip(path, "PPTX")
    slides, title = _extract(path, data, max_pages)
    text, pages = join_spans((number, slide) for number, slide in enumerate(slides, 1) if slide)
    if not text:
        raise LoadError(path, "no text content")
    return LoadedDocument(
        source=str(path),
        text=text,
        title=cap_title(title) if title and title.strip() else first_line(text),
        date=None,
        pages=tuple(pages),
        language=detect_language(text),
    )


def _extract(path: Path, data: bytes, max_pages: int | None) -> tuple[list[str], str | None]:
    """(text of each slide, title: core title, else the first slide's title placeholder); a
    slide count over `max_pages` is refused before any slide is read."""
    from pptx import Presentation

    try:
        deck = Presentation(BytesIO(data))
        count = len(deck.slides)
    except Exception:  # malformed packages make python-pptx raise many exception types
        raise LoadError(path, CORRUPT) from None
    if max_pages is not None and count > max_pages:
        raise LoadError(path, too_many_pages(count, max_pages))
    try:
        slides = [_slide_text(slide) for slide in deck.slides]
        title = deck.core_properties.title
        if not (title and title.strip()) and count:
            placeholder = deck.slides[0].shapes.title
            title = placeholder.text_frame.text if placeholder is not None else None
    except Exception:
        raise LoadError(path, CORRUPT) from None
    return slides, title


def _slide_text(slide) -> str:
    """The slide's shapes in reading order, then its notes, as blocks."""
    blocks = _shape_blocks(slide.shapes)
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        blocks.append(_frame_text(slide.notes_slide.notes_text_frame))
    return "\n\n".join(block for block in blocks if block)


def _shape_blocks(shapes) -> list[str]:
    """One block per shape (a group gives its shapes' blocks), top to bottom, left to right."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    blocks = []
    for shape in sorted(shapes, key=lambda s: (s.top or 0, s.left or 0)):
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            blocks.extend(_shape_blocks(shape.shapes))
        elif shape.has_text_frame:
            blocks.append(_frame_text(shape.text_frame))
        elif shape.has_table:
            blocks.append(_table_text(shape.table))
    return blocks


def _frame_text(frame) -> str:
    """The frame's non-empty lines (a line break within a paragraph starts a line), trimmed."""
    lines = frame.text.replace("\v", "\n").split("\n")
    return "\n".join(line.strip() for line in lines if line.strip())


def _table_text(table) -> str:
    """One line per row, cells separated by CELL_SEPARATOR; a merged cell counts once."""
    lines = []
    for row in table.rows:
        texts = [" ".join(cell.text.split()) for cell in row.cells if not cell.is_spanned]
        if any(texts):
            lines.append(CELL_SEPARATOR.join(texts))
    return "\n".join(lines)
