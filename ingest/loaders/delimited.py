"""CSV: each data row as one line of text with its header, the row number as its location.

The first non-empty record is the header; every later non-empty record becomes one line
``row N: Header1: value1 | Header2: value2``, N the record's 1-based position counting the
header's (blank records are skipped but counted, as a spreadsheet program numbers them). Empty
cells are left out, whitespace runs in a cell (newlines too) become one space, and a header cell
that is empty is named ``column K`` (K its 1-based column). The lines are joined by "\\n"; the
text is built here, so every offset indexes it exactly. The same rows-as-text rule serves the
.xlsx loader (``ingest.loaders.xlsx``), with the same MAX_CELLS limit.

Bytes are decoded as text files are (``decoding.decode_bytes``: UTF-8, with or without BOM, else
cp1252, else charset_normalizer's guess). The delimiter (``, ; TAB |``) is sniffed from the first
SNIFF_CHARS characters, comma when the sniffer cannot tell; quotes are '"', doubled inside a
quoted field, and a stray quote or an unclosed one refuses the file (strict parsing) rather than
swallowing what follows into one cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.base import LoadedDocument, LoadError, read_bytes, register
from ingest.loaders.decoding import decode_bytes
from ingest.loaders.text import cap_title

MAX_CELLS = 2_000_000
"""A table with more cells (a CSV's fields, a workbook's declared cells) is refused."""
SNIFF_CHARS = 64 << 10
DELIMITERS = ",;\t|"
CELL_SEPARATOR = " | "
NO_DATA_ROWS = "no data rows"

Row = tuple[int, Sequence[str]]  # (row number, the cells' text)


@register((".csv",))
def load_csv(path: Path) -> LoadedDocument:
    """Load a CSV file; raises LoadError for unreadable, binary, malformed, oversized or empty
    files."""
    data = read_bytes(path)
    if not data:
        raise LoadError(path, "empty file")
    try:
        text = decode_bytes(data)
    except ValueError as error:
        raise LoadError(path, str(error)) from None
    text = text.removeprefix("\ufeff")
    lines = table_lines(_records(path, text))
    if not lines:
        raise LoadError(path, NO_DATA_ROWS)
    body = "\n".join(lines)
    return LoadedDocument(
        source=str(path), text=body, title=cap_title(path.stem), date=None, pages=None,
        language=detect_language(body),
    )


def _records(path: Path, text: str) -> Iterator[Row]:
    """(record number, fields) of every record; raises LoadError for malformed CSV and, counting
    every field to the end, for more than MAX_CELLS fields."""
    reader = csv.reader(io.StringIO(text, newline=""), **_dialect(text[:SNIFF_CHARS]))
    cells = 0
    try:
        for number, record in enumerate(reader, 1):
            cells += len(record)
            if cells > MAX_CELLS:
                cells += sum(len(rest) for rest in reader)
                raise LoadError(path, too_many_cells(cells))
            yield number, record
    except csv.Error as error:
        raise LoadError(path, f"malformed CSV at line {reader.line_num}: {error}") from None


def _dialect(sample: str) -> dict:
    """The reader's format: the sniffed delimiter (comma when unsure), standard quoting."""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    return {"delimiter": delimiter, "quotechar": '"', "doublequote": True, "strict": True}


def too_many_cells(cells: int) -> str:
    """The reason for a table of ``cells`` cells, over MAX_CELLS."""
    return f"{cells:,} cells, over the {MAX_CELLS:,}-cell limit"


def table_lines(rows: Iterable[Row]) -> list[str]:
    """The lines of a table's data rows: the first non-empty row is the header, each later
    non-empty one a `row_line`. Empty when there is no data row."""
    header: list[str] | None = None
    lines = []
    for number, cells in rows:
        texts = [cell_text(cell) for cell in cells]
        if not any(texts):
            continue
        if header is None:
            header = texts
        else:
            lines.append(row_line(number, header, texts))
    return lines


def row_line(number: int, header: Sequence[str], cells: Sequence[str]) -> str:
    """``row N: Header: value | ...`` for the row's non-empty cells."""
    pairs = (
        f"{header[k] if k < len(header) and header[k] else f'column {k + 1}'}: {cell}"
        for k, cell in enumerate(cells)
        if cell
    )
    return f"row {number}: " + CELL_SEPARATOR.join(pairs)


def cell_text(value: str) -> str:
    """A cell's text on one line: whitespace runs (line breaks too) become one space."""
    return " ".join(value.split())
