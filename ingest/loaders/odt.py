"""ODT: the body's headings, paragraphs, list items and tables in document order, with odfpy.

Offsets index the extracted text (`LoadedDocument.text`): blocks are separated by a blank line;
a table gives one line per row, cells separated by " | " (a covered, i.e. merged, cell counts
once; trailing empty cells are dropped). `sections` gives the start of every heading with its
text. Whitespace follows ODF: runs of spaces and newlines in the XML are one space, <text:s>,
<text:tab> and <text:line-break> give spaces, a tab and a line break. A footnote's or a text
frame's paragraphs become blocks right after the paragraph that holds them; tracked changes,
comments and generated indexes (the table of contents) are left out. The zip is checked before
parsing (``archive.read_zip``); odfpy is imported on first use.
"""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.archive import not_a_zip, read_zip
from ingest.loaders.base import LoadedDocument, LoadError, join_spans, register
from ingest.loaders.text import cap_title, first_line

CELL_SEPARATOR = " | "
NOT_A_ZIP = not_a_zip("ODT")
CORRUPT = "corrupt or unsupported ODT file"

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
_DC = "http://purl.org/dc/elements/1.1/"
_SKIP = {(_TEXT, name) for name in (
    "tracked-changes", "table-of-content", "alphabetical-index", "illustration-index",
    "object-index", "user-index", "table-index", "bibliography", "note-citation",
    "sequence-decls", "variable-decls", "user-field-decls",
)} | {(_OFFICE, "annotation"), (_OFFICE, "forms")}
_NESTED = {(_TEXT, "note-body"), (_DRAW, "text-box")}  # blocks inside a paragraph
_SPACES = re.compile(r"[ \t\r\n]+")

Block = tuple[str, bool]  # (text, is a heading)


@register((".odt",))
def load_odt(path: Path) -> LoadedDocument:
    """Load an OpenDocument text; raises LoadError for unreadable, corrupt, oversized or empty
    files."""
    data = read_zip(path, "ODT")
    from odf.opendocument import load

    try:
        document = load(BytesIO(data))
        blocks = _blocks(document.text)
        meta_title = _meta_title(document.meta)
    except Exception:  # malformed packages make odfpy raise many exception types
        raise LoadError(path, CORRUPT) from None
    text, spans = join_spans((" ".join(block.split()) if is_heading else None, block)
                             for block, is_heading in blocks if block)
    sections = [(start, heading) for heading, start, _ in spans if heading]
    if not text:
        raise LoadError(path, "no text content")
    title = meta_title or (sections[0][1] if sections else None)
    return LoadedDocument(
        source=str(path),
        text=text,
        title=cap_title(title) if title else first_line(text),
        date=None,
        pages=None,
        language=detect_language(text),
        sections=tuple(sections),
    )


def _blocks(node) -> list[Block]:
    """The blocks under a container element (body, section, list, cell...), in order."""
    blocks: list[Block] = []
    for child in _elements(node):
        if child.qname in ((_TEXT, "p"), (_TEXT, "h")):
            nested: list[Block] = []
            blocks.append((_inline(child, nested), child.qname == (_TEXT, "h")))
            blocks.extend(nested)
        elif child.qname == (_TABLE, "table"):
            blocks.append((_table_text(child), False))
        else:
            blocks.extend(_blocks(child))
    return blocks


def _inline(node, nested: list[Block]) -> str:
    """A paragraph's text, trimmed line by line; its notes' and frames' blocks go to `nested`."""
    pieces: list[str] = []

    def walk(element) -> None:
        for child in element.childNodes:
            if child.nodeType == child.TEXT_NODE:
                pieces.append(_SPACES.sub(" ", child.data))
            elif child.nodeType != child.ELEMENT_NODE or child.qname in _SKIP:
                continue
            elif child.qname in _NESTED:
                nested.extend(_blocks(child))
            elif child.qname == (_TEXT, "s"):
                pieces.append(" " * int(child.getAttrNS(_TEXT, "c") or 1))
            elif child.qname == (_TEXT, "tab"):
                pieces.append("\t")
            elif child.qname == (_TEXT, "line-break"):
                pieces.append("\n")
            else:
                walk(child)

    walk(node)
    lines = (line.strip() for line in "".join(pieces).split("\n"))
    return "\n".join(line for line in lines if line)


def _table_text(table) -> str:
    """One line per non-empty row, cells separated by CELL_SEPARATOR."""
    lines = []
    for row in _rows(table):
        cells = [" ".join(" ".join(text for text, _ in _blocks(cell)).split())
                 for cell in _elements(row) if cell.qname == (_TABLE, "table-cell")]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            lines.append(CELL_SEPARATOR.join(cells))
    return "\n".join(lines)


def _rows(node) -> list:
    """The table's rows, also those inside header-rows, rows and row-group elements."""
    rows = []
    for child in _elements(node):
        if child.qname == (_TABLE, "table-row"):
            rows.append(child)
        elif child.qname in ((_TABLE, "table-header-rows"), (_TABLE, "table-rows"),
                             (_TABLE, "table-row-group")):
            rows.extend(_rows(child))
    return rows


def _elements(node) -> list:
    return [child for child in node.childNodes
            if child.nodeType == child.ELEMENT_NODE and child.qname not in _SKIP]


def _meta_title(meta) -> str | None:
    """The dc:title of the document's meta.xml, when it has words."""
    for child in _elements(meta):
        if child.qname == (_DC, "title"):
            title = " ".join(str(child).split())
            return title or None
    return None
