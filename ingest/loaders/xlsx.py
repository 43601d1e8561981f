"""XLSX: each visible sheet's data rows as lines of text with their header, read with openpyxl.

A sheet's rows follow the CSV rule (``delimited.table_lines``): the first non-empty row is the
header, each later non-empty row one line ``row N: Header: value | ...``, N the row number the
spreadsheet program shows. Each sheet with a data row is a block; blocks are joined by a blank
line and ``sections`` holds (start of the block, sheet name), so a citation names its sheet.
Hidden sheets are skipped. Values are those a spreadsheet shows from the file: a formula's cached
result (a formula never calculated, as in a file written by a script, is an empty cell), dates as
YYYY-MM-DD (with the time when not midnight), numbers to 15 significant digits (3.0 is '3',
0.1 + 0.2 is '0.3'), booleans as TRUE/FALSE.

The file is checked before parsing by ``archive.read_zip``: an OLE file (an encrypted workbook
or a legacy .xls) is refused by its signature, the zip (so a zip bomb is never unpacked),
and a workbook whose sheets declare more than ``delimited.MAX_CELLS`` cells before any row is
read; the declared size is then ignored and the cells actually read are counted against the same
limit. openpyxl is imported on first use.
"""

from __future__ import annotations

import datetime as dt
from io import BytesIO
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders import delimited
from ingest.loaders.archive import encrypted_or_legacy, read_zip
from ingest.loaders.base import LoadedDocument, LoadError, register
from ingest.loaders.text import cap_title

OLE = encrypted_or_legacy("XLSX")
CORRUPT = "corrupt or unsupported XLSX file"
SHEET_SEPARATOR = "\n\n"


@register((".xlsx",))
def load_xlsx(path: Path) -> LoadedDocument:
    """Load an Excel workbook; raises LoadError for unreadable, encrypted, corrupt, oversized or
    empty files."""
    data = read_zip(path, "XLSX")
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(BytesIO(data), read_only=True, data_only=True)
        try:
            sheets, core_title = _sheets(path, workbook), workbook.properties.title
        finally:
            workbook.close()
    except LoadError:
        raise
    except Exception:  # malformed packages make openpyxl raise many exception types
        raise LoadError(path, CORRUPT) from None
    if not sheets:
        raise LoadError(path, delimited.NO_DATA_ROWS)
    text, sections = _join(sheets)
    title = core_title if core_title and core_title.strip() else path.stem
    return LoadedDocument(
        source=str(path), text=text, title=cap_title(title), date=None, pages=None,
        language=detect_language(text), sections=sections,
    )


def _sheets(path: Path, workbook) -> list[tuple[str, str]]:
    """(name, text) of each visible sheet with a data row, in workbook order."""
    visible = [ws for ws in workbook.worksheets if ws.sheet_state == "visible"]
    declared = sum((ws.max_row or 0) * (ws.max_column or 0) for ws in visible)
    if declared > delimited.MAX_CELLS:
        raise LoadError(path, "sheets declare " + delimited.too_many_cells(declared))
    counted = [0]
    sheets = []
    for ws in visible:
        ws.reset_dimensions()  # read every row the sheet holds, whatever its <dimension> says
        lines = delimited.table_lines(_rows(path, ws, counted))
        if lines:
            sheets.append((ws.title, "\n".join(lines)))
    return sheets


def _rows(path: Path, ws, counted: list[int]):
    """(row number, cells' text) of the sheet's rows; ``counted[0]``: the workbook's cells read
    so far, refused over MAX_CELLS."""
    for number, row in enumerate(ws.iter_rows(values_only=True), 1):
        counted[0] += len(row)
        if counted[0] > delimited.MAX_CELLS:
            raise LoadError(path, f"sheets hold more than {delimited.MAX_CELLS:,} cells, the limit")
        yield number, [value_text(value) for value in row]


def _join(sheets: list[tuple[str, str]]) -> tuple[str, tuple[tuple[int, str], ...]]:
    """The sheets' blocks joined by SHEET_SEPARATOR, and (block start, sheet name) of each."""
    sections, start = [], 0
    for name, block in sheets:
        sections.append((start, name))
        start += len(block) + len(SHEET_SEPARATOR)
    return SHEET_SEPARATOR.join(block for _, block in sheets), tuple(sections)


def value_text(value) -> str:
    """A cell value as the spreadsheet shows it, roughly: see the module's doc."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return format(value, ".15g")  # the 15 digits a spreadsheet shows; 3.0 is '3'
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    return str(value)
