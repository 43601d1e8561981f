"""End to end with the real embedding model: a workbook and a CSV are ingested, a question
answered by one row is asked, and the answer cites that row, with its sheet, by exact offsets."""

import csv

import openpyxl
import pytest

from ingest.loaders import load


@pytest.fixture
def tables(tmp_path):
    """A two-sheet workbook and a CSV of distinctive facts, in one folder."""
    docs = tmp_path / "docs"
    docs.mkdir()
    wb = openpyxl.Workbook()
    harbours = wb.active
    harbours.title = "Harbours"
    for row in [["Harbour", "Country", "Opened"], ["Port of Kelmora", "Norway", 1911],
                ["Port of Varandel", "Portugal", 1874]]:
        harbours.append(row)
    lighthouses = wb.create_sheet("Lighthouses")
    for row in [["Lighthouse", "Height in metres", "Keeper"],
                ["Quillan Point lighthouse", 38, "Agnes Mabry"],
                ["Thornwick Rock lighthouse", 71, "Tobias Fenwright"],
                ["Hollow Bay lighthouse", 22, "Maud Ellery"]]:
        lighthouses.append(row)
    wb.save(docs / "coast.xlsx")
    with open(docs / "inventions.csv", "w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([
            ["Inventor", "Invention", "Year"],
            ["Odile Varnier", "the folding brass telescope", 1791],
            ["Henrik Solberg", "the glass-cased tide clock", 1836],
            ["Lena Ostrova", "the copper rain gauge", 1868],
        ])
    return docs


def cited(answer, path):
    """The answer's citations of ``path``, each checked against the loaded text."""
    text = load(path).text
    citations = [c for c in answer.citations if c.source == str(path.resolve())]
    for c in citations:
        assert c.quote == text[c.start:c.end]
    return citations


def test_a_sheet_row_is_cited_with_its_sheet(make_rag, tables):
    rag = make_rag()
    report = rag.ingest([tables])
    assert not report.failed
    answer = rag.ask("Who was the keeper of the Thornwick Rock lighthouse?")
    assert not answer.abstained
    citations = cited(answer, tables / "coast.xlsx")
    assert citations, answer
    best = citations[0]
    assert "row 3: Lighthouse: Thornwick Rock lighthouse" in best.quote
    assert "Tobias Fenwright" in best.quote
    assert best.section == "Lighthouses"


def test_a_csv_row_is_cited(make_rag, tables):
    rag = make_rag()
    rag.ingest([tables])
    answer = rag.ask("Who invented the glass-cased tide clock?")
    assert not answer.abstained
    citations = cited(answer, tables / "inventions.csv")
    assert citations, answer
    assert "row 3: Inventor: Henrik Solberg" in citations[0].quote
    assert citations[0].section is None
