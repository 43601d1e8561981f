"""XLSX and CSV loaders: rows as text with their header; every file is generated here."""

import csv
import datetime as dt
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from ingest.chunking import chunk_document
from ingest.loaders import LoadError, load, supported_suffixes
from ingest.loaders import delimited
from ingest.loaders.xlsx import CORRUPT, OLE

ROOT = Path(__file__).resolve().parents[2]
SHEET1 = "xl/worksheets/sheet1.xml"


def reason(path: Path) -> str:
    with pytest.raises(LoadError) as caught:
        load(path)
    return caught.value.reason


def workbook(path: Path, sheets: dict[str, list[list]], *, title=None, hidden=()) -> Path:
    """An .xlsx of the given sheets (name -> rows, None for an empty cell); ``hidden`` sheets
    are hidden; ``title`` is the core properties' title."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = hidden[name] if isinstance(hidden, dict) else "hidden"
    wb.properties.title = title
    wb.save(path)
    return path


def rewrite_member(path: Path, member: str, edit) -> Path:
    """Rewrite one member of the zip at ``path`` with ``edit(text) -> text``."""
    with zipfile.ZipFile(path) as archive:
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    contents[member] = edit(contents[member].decode()).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return path


def write_csv(path: Path, rows: list[list[str]], *, encoding="utf-8", **fmt) -> Path:
    with open(path, "w", encoding=encoding, newline="") as stream:
        csv.writer(stream, **fmt).writerows(rows)
    return path


def test_registered_and_import_stays_light():
    assert {".xlsx", ".csv"} <= supported_suffixes()
    code = "import sys, ingest.loaders; print('openpyxl' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# -- XLSX --------------------------------------------------------------------------------------


def test_sheet_rows_as_text_with_header_empty_cells_and_row_numbers(tmp_path):
    rows = [
        ["City", None, "Population", "Notes"],
        ["Lyon", "FR", 522_000, "on the Rhône\nand the  Saône"],
        [None, None, None, None],  # row 3: skipped, still counted
        ["Brest", None, 139_000.0, None, "extra"],
    ]
    path = workbook(tmp_path / "cities.xlsx", {"Villes": rows})
    doc = load(path)
    assert doc.text == (
        "row 2: City: Lyon | column 2: FR | Population: 522000 | Notes: on the Rhône and the Saône\n"
        "row 4: City: Brest | Population: 139000 | column 5: extra"
    )
    assert doc.sections == ((0, "Villes"),)
    assert doc.title == "cities"  # no core title: the file name
    assert doc.pages is None and doc.date is None
    assert doc.source == str(path.resolve())


def test_core_title_is_the_title(tmp_path):
    path = workbook(tmp_path / "b.xlsx", {"S": [["k"], ["v"]]}, title="  Budget 2024  ")
    assert load(path).title == "Budget 2024"


def test_numbering_starts_where_the_sheet_does(tmp_path):
    path = tmp_path / "offset.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["C3"], ws["D3"] = "Name", "Age"  # header on row 3, from column C
    ws["C5"], ws["D5"] = "Ada", 36
    wb.save(path)
    assert load(path).text == "row 5: Name: Ada | Age: 36"


def test_two_sheets_are_blocks_with_their_sections_and_exact_offsets(tmp_path):
    path = workbook(tmp_path / "two.xlsx", {
        "Ports": [["Port", "Country"], ["Rotterdam", "NL"], ["Hamburg", "DE"]],
        "Empty": [],
        "Headers only": [["A", "B"]],
        "Lighthouses": [["Name", "Height"], ["Eddystone", 49]],
    })
    doc = load(path)
    ports = "row 2: Port: Rotterdam | Country: NL\nrow 3: Port: Hamburg | Country: DE"
    assert doc.text == ports + "\n\nrow 2: Name: Eddystone | Height: 49"
    assert doc.sections == ((0, "Ports"), (len(ports) + 2, "Lighthouses"))
    assert doc.text[doc.sections[1][0]:].startswith("row 2: Name: Eddystone")
    chunks = chunk_document(doc, count_tokens=lambda texts: [len(t.split()) for t in texts],
                            max_tokens=8, overlap_tokens=0, hard_max_tokens=8, doc_hash="h")
    for chunk in chunks:
        assert doc.text[chunk.metadata["start"]:chunk.metadata["end"]] == chunk.page_content
    by_row = {chunk.page_content.split(" | ")[0]: chunk.metadata["section"] for chunk in chunks}
    assert by_row == {"row 2: Port: Rotterdam": "Ports", "row 3: Port: Hamburg": "Ports",
                      "row 2: Name: Eddystone": "Lighthouses"}


def test_values_as_a_spreadsheet_shows_them(tmp_path):
    rows = [
        ["Day", "At", "Time", "Count", "Ratio", "Done"],
        [dt.datetime(2024, 3, 5), dt.datetime(2024, 3, 5, 14, 30), dt.time(9, 15, 20), 3.0, 2.5,
         True],
        [dt.date(1999, 12, 31), dt.datetime(2024, 3, 5, 8, 0, 5), None, -7, 0.1 + 0.2, False],
        [None, None, None, 1e20, 1 / 3, None],
    ]
    doc = load(workbook(tmp_path / "values.xlsx", {"S": rows}))
    assert doc.text == (
        "row 2: Day: 2024-03-05 | At: 2024-03-05 14:30 | Time: 09:15:20 | Count: 3 | Ratio: 2.5"
        " | Done: TRUE\n"
        "row 3: Day: 1999-12-31 | At: 2024-03-05 08:00:05 | Count: -7 | Ratio: 0.3 | Done: FALSE\n"
        "row 4: Count: 1e+20 | Ratio: 0.333333333333333"
    )


def test_formulas_give_their_cached_values(tmp_path):
    rows = [["Qty", "Price", "Total", "Later"], [2, 3, "=A2*B2", "=A2+1"]]
    path = workbook(tmp_path / "f.xlsx", {"S": rows})
    with zipfile.ZipFile(path) as archive:
        assert "<f>A2*B2</f><v></v>" in archive.read(SHEET1).decode()  # openpyxl caches nothing
    # As a spreadsheet program saves it: the total calculated; 'Later' never was.
    rewrite_member(path, SHEET1, lambda xml: xml.replace("A2*B2</f><v></v>", "A2*B2</f><v>6</v>"))
    assert load(path).text == "row 2: Qty: 2 | Price: 3 | Total: 6"


def test_hidden_sheets_are_skipped(tmp_path):
    sheets = {"Shown": [["k"], ["visible value"]], "Secret": [["k"], ["hidden value"]],
              "Deep": [["k"], ["very hidden value"]]}
    hidden = {"Secret": "hidden", "Deep": "veryHidden"}
    doc = load(workbook(tmp_path / "h.xlsx", sheets, hidden=hidden))
    assert doc.text == "row 2: k: visible value"
    assert doc.sections == ((0, "Shown"),)
    only_hidden = workbook(tmp_path / "oh.xlsx", {"A": [], "B": [["k"], ["v"]]}, hidden=("B",))
    assert reason(only_hidden) == "no data rows"


def test_a_wrong_declared_dimension_does_not_cut_rows(tmp_path):
    path = workbook(tmp_path / "dim.xlsx", {"S": [["k"], ["one"], ["two"]]})
    rewrite_member(path, SHEET1, lambda xml: xml.replace('ref="A1:A3"', 'ref="A1"'))
    assert load(path).text == "row 2: k: one\nrow 3: k: two"


def test_xlsx_refusals(tmp_path):
    assert reason(workbook(tmp_path / "header.xlsx", {"S": [["A", "B"]]})) == "no data rows"
    assert reason(workbook(tmp_path / "blank.xlsx", {"S": []})) == "no data rows"
    (tmp_path / "empty.xlsx").write_bytes(b"")
    assert reason(tmp_path / "empty.xlsx") == "empty file"
    (tmp_path / "text.xlsx").write_text("City,Population\nLyon,522000\n")
    assert reason(tmp_path / "text.xlsx") == "not an XLSX file (not a readable zip archive)"
    (tmp_path / "old.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert reason(tmp_path / "old.xlsx") == OLE == (
        "encrypted (password-protected) or legacy .xls workbook; save it as .xlsx"
    )
    corrupt = workbook(tmp_path / "corrupt.xlsx", {"S": [["k"], ["v"]]})
    rewrite_member(corrupt, "xl/workbook.xml", lambda xml: xml[: len(xml) // 2])
    assert reason(corrupt) == CORRUPT == "corrupt or unsupported XLSX file"
    bad_sheet = workbook(tmp_path / "bad_sheet.xlsx", {"S": [["k"], ["v"]]})
    rewrite_member(bad_sheet, SHEET1, lambda xml: xml.replace("</sheetData>", ""))
    assert reason(bad_sheet) == CORRUPT
    with zipfile.ZipFile(tmp_path / "other.xlsx", "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    assert reason(tmp_path / "other.xlsx") == CORRUPT


def test_xlsx_zip_bomb_is_refused_before_unpacking(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (20 << 20))
    assert path.stat().st_size < 100_000
    assert reason(path) == "compression ratio over 100:1 (zip bomb?); not unpacked"


def test_xlsx_over_the_cell_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(delimited, "MAX_CELLS", 10)
    a, b = [["k", "v"], ["1", "2"]], [["k", "v"], ["3", "4"], ["5", "6"]]
    assert load(workbook(tmp_path / "ok.xlsx", {"A": a, "B": b})).text.count("row ") == 3  # 4 + 6
    big = workbook(tmp_path / "big.xlsx", {"A": a, "B": [*b, ["7", "8"]]})
    assert reason(big) == "sheets declare 12 cells, over the 10-cell limit"
    hidden = workbook(tmp_path / "hidden.xlsx", {"A": a, "B": b, "H": [["x"] * 20]}, hidden=("H",))
    assert load(hidden).text.count("row ") == 3  # a hidden sheet is not read, nor counted
    # A sheet declaring less than it holds is counted as it is read.
    lying = workbook(tmp_path / "lying.xlsx", {"S": [["k", "v"], *[[str(i), "x"] for i in range(5)]]})
    rewrite_member(lying, SHEET1, lambda xml: xml.replace('ref="A1:B6"', 'ref="A1"'))
    assert reason(lying) == "sheets hold more than 10 cells, the limit"


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_rows_as_text(tmp_path):
    rows = [
        ["Name", "", "Role", "Since"],
        ["Ada Lovelace", "UK", "analyst", "1843"],
        ["", "", "", ""],  # record 3: skipped, still counted
        ["Grace  Hopper", "", "admiral\nand programmer", "", "COBOL"],
    ]
    path = write_csv(tmp_path / "people.csv", rows)
    doc = load(path)
    assert doc.text == (
        "row 2: Name: Ada Lovelace | column 2: UK | Role: analyst | Since: 1843\n"
        "row 4: Name: Grace Hopper | Role: admiral and programmer | column 5: COBOL"
    )
    assert doc.title == "people"
    assert doc.sections == () and doc.pages is None and doc.date is None
    assert doc.language == "en"


def test_csv_blank_lines_and_leading_blank_records_are_counted(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("\n\nk,v\n\na,1\r\nb,2\r\n")
    assert load(path).text == "row 5: k: a | v: 1\nrow 6: k: b | v: 2"


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_csv_delimiters_are_sniffed(tmp_path, delimiter):
    rows = [["Ville", "Pays", "Habitants"], ["Lyon, Rhône", "France", "522000"],
            ["Genève", "Suisse", "203000"]]
    doc = load(write_csv(tmp_path / "villes.csv", rows, delimiter=delimiter))
    assert doc.text == (
        "row 2: Ville: Lyon, Rhône | Pays: France | Habitants: 522000\n"
        "row 3: Ville: Genève | Pays: Suisse | Habitants: 203000"
    )


def test_one_column_csv_falls_back_to_comma(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("Word\nhello world\nbonjour\n")
    assert load(path).text == "row 2: Word: hello world\nrow 3: Word: bonjour"


def test_cp1252_csv_with_french_accents(tmp_path):
    rows = [["Prénom", "Ville", "Remarque"], ["Élodie", "Orléans", "très gentille, déjà là"],
            ["Zoë", "Besançon", "où est-elle ?"]]
    path = write_csv(tmp_path / "fr.csv", rows, encoding="cp1252", delimiter=";")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    doc = load(path)
    assert doc.text == (
        "row 2: Prénom: Élodie | Ville: Orléans | Remarque: très gentille, déjà là\n"
        "row 3: Prénom: Zoë | Ville: Besançon | Remarque: où est-elle ?"
    )
    assert doc.language == "fr"


def test_utf8_bom_is_not_part_of_the_first_header(tmp_path):
    path = write_csv(tmp_path / "bom.csv", [["Nom", "Âge"], ["Jean", "30"]], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load(path).text == "row 2: Nom: Jean | Âge: 30"


def test_quoted_fields_keep_delimiters_and_doubled_quotes(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('Title,Quote\n"Rapport, 2024","He said ""no"", then left"\n')
    assert load(path).text == 'row 2: Title: Rapport, 2024 | Quote: He said "no", then left'


def test_csv_refusals(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    assert reason(tmp_path / "empty.csv") == "empty file"
    (tmp_path / "blank.csv").write_text("\n ,  \n\n")
    assert reason(tmp_path / "blank.csv") == "no data rows"
    (tmp_path / "header.csv").write_text("Name,Age\n")
    assert reason(tmp_path / "header.csv") == "no data rows"
    (tmp_path / "header-and-blanks.csv").write_text("Name,Age\n,\n\n")
    assert reason(tmp_path / "header-and-blanks.csv") == "no data rows"
    (tmp_path / "binary.csv").write_bytes(b"a,b\n\x00\x01\x02,3\n")
    assert reason(tmp_path / "binary.csv") == "binary file, not text"


def test_malformed_csv_names_the_line(tmp_path):
    (tmp_path / "stray.csv").write_text('k,v\na,1\n"b"x,2\n')
    assert reason(tmp_path / "stray.csv") == "malformed CSV at line 3: ',' expected after '\"'"
    (tmp_path / "open.csv").write_text('k,v\na,1\n"b,2\nc,3\n')
    assert reason(tmp_path / "open.csv") == "malformed CSV at line 4: unexpected end of data"
    limit = csv.field_size_limit()
    (tmp_path / "huge.csv").write_text(f"k,v\na,1\nb,{'x' * (limit + 1)}\n")
    expected = f"malformed CSV at line 3: field larger than field limit ({limit})"
    assert reason(tmp_path / "huge.csv") == expected


def test_csv_over_the_cell_limit_counts_every_field(tmp_path, monkeypatch):
    monkeypatch.setattr(delimited, "MAX_CELLS", 10)
    ok = write_csv(tmp_path / "ok.csv", [["k", "v"], *[[str(i), "x"] for i in range(4)]])
    assert load(ok).text.count("row ") == 4  # 10 fields: at the limit
    big = write_csv(tmp_path / "big.csv", [["k", "v"], *[[str(i), "x"] for i in range(10)]])
    assert reason(big) == "22 cells, over the 10-cell limit"
