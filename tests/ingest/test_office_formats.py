"""PPTX, ODT and EPUB loaders; every file is generated here, at test time, by its own library."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from ebooklib import epub
from odf import dc
from odf import text as odf_text
from odf.opendocument import OpenDocumentText
from odf.table import CoveredTableCell, Table, TableCell, TableColumn, TableHeaderRows, TableRow
from pptx import Presentation
from pptx.util import Inches

from ingest.chunking import chunk_document
from ingest.loaders import LoadError, load, supported_suffixes
from ingest.loaders import epub as epub_loader
from ingest.loaders import odt as odt_loader
from ingest.loaders import pptx as pptx_loader

ROOT = Path(__file__).resolve().parents[2]
LOADERS = {"pptx": pptx_loader, "odt": odt_loader, "epub": epub_loader}


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def reason(path: Path, **kwargs) -> str:
    with pytest.raises(LoadError) as caught:
        load(path, **kwargs)
    return caught.value.reason


def assert_spans_index_the_text(doc):
    """Every page and section offset falls inside the text, in order."""
    for _, start, end in doc.pages or ():
        assert 0 <= start < end <= len(doc.text)
        assert doc.text[start:end].strip() == doc.text[start:end]
    starts = [start for start, _ in doc.sections]
    assert starts == sorted(starts) and all(0 <= s < len(doc.text) for s in starts)


def test_the_suffixes_are_registered_and_import_stays_light():
    assert {".pptx", ".odt", ".epub"} <= supported_suffixes()
    code = ("import sys, ingest.loaders; "
            "print([m for m in ('pptx', 'odf', 'ebooklib', 'bs4') if m in sys.modules])")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# -- refused files, every format ----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_not_a_zip_and_empty_files(tmp_path, kind):
    fake = write(tmp_path / f"fake.{kind}", "Du texte, pas une archive.".encode())
    article = {"pptx": "a", "odt": "an", "epub": "an"}[kind]
    assert reason(fake) == f"not {article} {kind.upper()} file (not a readable zip archive)"
    assert reason(fake) == LOADERS[kind].NOT_A_ZIP
    assert reason(write(tmp_path / f"empty.{kind}", b"")) == "empty file"


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_zip_of_something_else_is_corrupt(tmp_path, kind):
    path = tmp_path / f"other.{kind}"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/octet-stream")
        archive.writestr("content.xml", "<not xml")
    assert reason(path) == f"corrupt or unsupported {kind.upper()} file" == LOADERS[kind].CORRUPT


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_zip_bomb_is_refused_before_unpacking(tmp_path, kind):
    path = tmp_path / f"bomb.{kind}"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/container.xml", "<container/>")
        archive.writestr("content.xml", b"\0" * (20 << 20))
    assert path.stat().st_size < 100_000
    assert reason(path) == "compression ratio over 100:1 (zip bomb?); not unpacked"


# -- PPTX ---------------------------------------------------------------------------------------


def textbox(slide, left, top, text):
    box = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(2), Inches(0.5))
    box.text_frame.text = text
    return box


def deck() -> Presentation:
    """Slide 1: title and body; slide 2: nothing; slide 3: boxes out of order, a group, a table
    with a merged cell, notes."""
    presentation = Presentation()
    first = presentation.slides.add_slide(presentation.slide_layouts[1])
    first.shapes.title.text = "Bilan de l'année"
    first.placeholders[1].text = "Chiffre d'affaires en hausse\nÉquipe élargie"
    presentation.slides.add_slide(presentation.slide_layouts[6])
    third = presentation.slides.add_slide(presentation.slide_layouts[6])
    textbox(third, 5, 1, "En haut à droite")
    textbox(third, 0.5, 3, "Plus bas")
    textbox(third, 0.5, 1, "En haut à gauche")
    group = third.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(6.5), Inches(1), Inches(0.5)).text_frame.text = "g2"
    group.shapes.add_textbox(Inches(0.5), Inches(6), Inches(1), Inches(0.5)).text_frame.text = "g1"
    table = third.shapes.add_table(3, 3, Inches(0.5), Inches(4), Inches(6), Inches(1.5)).table
    table.cell(0, 0).merge(table.cell(0, 1))
    table.cell(0, 0).text = "Région   Nord"
    table.cell(0, 2).text = "2024"
    for cell, value in zip(table.rows[1].cells, ("a", "", "c")):
        cell.text = value
    third.notes_slide.notes_text_frame.text = "Note : répéter\nle chiffre clé."
    return presentation


def save(document, path: Path) -> Path:
    document.save(str(path))
    return path


def test_pptx_slides_in_reading_order_with_pages(tmp_path):
    doc = load(save(deck(), tmp_path / "bilan.pptx"))
    slides = {
        1: "Bilan de l'année\n\nChiffre d'affaires en hausse\nÉquipe élargie",
        3: "En haut à gauche\n\nEn haut à droite\n\nPlus bas\n\nRégion Nord | 2024\na |  | c"
           "\n\ng1\n\ng2\n\nNote : répéter\nle chiffre clé.",
    }
    assert doc.text == slides[1] + "\n\n" + slides[3]
    assert [number for number, _, _ in doc.pages] == [1, 3]
    assert {number: doc.text[start:end] for number, start, end in doc.pages} == slides
    assert doc.title == "Bilan de l'année"  # the first slide's title placeholder
    assert doc.date is None and doc.sections == () and doc.language == "fr"
    assert_spans_index_the_text(doc)


def test_pptx_chunks_get_their_slide(tmp_path):
    presentation = Presentation()
    for n in (1, 2, 3):
        slide = presentation.slides.add_slide(presentation.slide_layouts[6])
        textbox(slide, 0.5, 0.5, " ".join(f"Slide {n} word{k}." for k in range(30)))
    doc = load(save(presentation, tmp_path / "long.pptx"))
    chunks = chunk_document(doc, count_tokens=lambda texts: [len(t.split()) for t in texts],
                            max_tokens=12, overlap_tokens=0, hard_max_tokens=12, doc_hash="h")
    assert {chunk.metadata["page"] for chunk in chunks} == {1, 2, 3}
    for chunk in chunks:
        start, end = chunk.metadata["start"], chunk.metadata["end"]
        assert doc.text[start:end] == chunk.page_content
        assert chunk.page_content.startswith(f"Slide {chunk.metadata['page']} ")


def test_pptx_core_title_wins_and_first_line_is_the_last_resort(tmp_path):
    titled = deck()
    titled.core_properties.title = "  Rapport   2024 "
    assert load(save(titled, tmp_path / "titled.pptx")).title == "Rapport 2024"
    plain = Presentation()
    textbox(plain.slides.add_slide(plain.slide_layouts[6]), 1, 1, "\nPremière ligne\nsuite")
    assert load(save(plain, tmp_path / "plain.pptx")).title == "Première ligne"


def test_pptx_over_the_page_limit_is_refused_before_any_slide_is_read(tmp_path, monkeypatch):
    path = save(deck(), tmp_path / "three.pptx")
    read = []
    slide_text = pptx_loader._slide_text
    monkeypatch.setattr(pptx_loader, "_slide_text",
                        lambda slide: read.append(slide) or slide_text(slide))
    assert reason(path, max_pages=2) == "too many pages (3 > 2 page limit; raise max_pdf_pages)"
    assert read == []
    assert [number for number, _, _ in load(path, max_pages=3).pages] == [1, 3]


def test_pptx_without_text(tmp_path):
    assert reason(save(Presentation(), tmp_path / "none.pptx")) == "no text content"
    blank = Presentation()
    blank.slides.add_slide(blank.slide_layouts[6])
    assert reason(save(blank, tmp_path / "blank.pptx")) == "no text content"


# -- ODT ----------------------------------------------------------------------------------------


def paragraph(text: str, element=odf_text.P, **attributes):
    node = element(**attributes)
    node.addText(text)
    return node


def cell(text: str = "", **attributes):
    node = TableCell(**attributes)
    if text:
        node.addElement(paragraph(text))
    return node


def report_odt(title: str | None = "Rapport annuel") -> OpenDocumentText:
    document = OpenDocumentText()
    if title:
        document.meta.addElement(dc.Title(text=title))
    body = document.text
    toc = odf_text.TableOfContent(name="toc")
    toc.addElement(odf_text.IndexBody())
    toc.childNodes[0].addElement(paragraph("Entrée de sommaire"))
    body.addElement(toc)
    body.addElement(paragraph("Préambule   sans titre."))
    body.addElement(paragraph("Résultats de l'été", odf_text.H, outlinelevel=1))
    spaced = paragraph("Deux")
    spaced.addElement(odf_text.S(c=2))
    spaced.addText("espaces\n et")
    spaced.addElement(odf_text.Tab())
    spaced.addText("tab")
    spaced.addElement(odf_text.LineBreak())
    spaced.addText("nouvelle ligne")
    note = odf_text.Note(noteclass="footnote")
    note.addElement(odf_text.NoteCitation(text="1"))
    note_body = odf_text.NoteBody()
    note_body.addElement(paragraph("Note de bas de page."))
    note.addElement(note_body)
    spaced.addElement(note)
    body.addElement(spaced)
    items = odf_text.List()
    for words in ("Premier point", "Second point"):
        item = odf_text.ListItem()
        item.addElement(paragraph(words))
        items.addElement(item)
    inner = odf_text.List()
    inner_item = odf_text.ListItem()
    inner_item.addElement(paragraph("Sous-point"))
    inner.addElement(inner_item)
    items.childNodes[-1].addElement(inner)
    body.addElement(items)
    body.addElement(paragraph("Tableau", odf_text.H, outlinelevel=2))
    table = Table(name="t")
    table.addElement(TableColumn(numbercolumnsrepeated=4))
    header = TableHeaderRows()
    header_row = TableRow()
    for node in (cell("Région", numbercolumnsspanned=2), CoveredTableCell(), cell("2024"),
                 cell(numbercolumnsrepeated=1000)):
        header_row.addElement(node)
    header.addElement(header_row)
    table.addElement(header)
    for values in (("Nord", "", "12", ""), ("", "", "", "")):
        row = TableRow()
        for value in values:
            row.addElement(cell(value))
        table.addElement(row)
    body.addElement(table)
    return document


def test_odt_blocks_in_document_order_with_sections(tmp_path):
    doc = load(save(report_odt(), tmp_path / "rapport.odt"))
    assert doc.text == (
        "Préambule sans titre.\n\n"
        "Résultats de l'été\n\n"
        "Deux  espaces et\ttab\nnouvelle ligne\n\n"
        "Note de bas de page.\n\n"
        "Premier point\n\nSecond point\n\nSous-point\n\n"
        "Tableau\n\n"
        "Région | 2024\nNord |  | 12"
    )
    assert doc.sections == (
        (doc.text.index("Résultats de l'été"), "Résultats de l'été"),
        (doc.text.index("Tableau"), "Tableau"),
    )
    for start, heading in doc.sections:
        assert doc.text[start:start + len(heading)] == heading
    assert doc.title == "Rapport annuel"
    assert doc.pages is None and doc.date is None and doc.language == "fr"
    assert_spans_index_the_text(doc)


def test_odt_title_falls_back_to_first_heading_then_first_line(tmp_path):
    assert load(save(report_odt(None), tmp_path / "a.odt")).title == "Résultats de l'été"
    plain = OpenDocumentText()
    plain.text.addElement(paragraph("   "))
    plain.text.addElement(paragraph("Ligne d'ouverture"))
    doc = load(save(plain, tmp_path / "b.odt"))
    assert doc.title == "Ligne d'ouverture" and doc.sections == ()


def test_odt_without_text(tmp_path):
    assert reason(save(OpenDocumentText(), tmp_path / "blank.odt")) == "no text content"


# -- EPUB ---------------------------------------------------------------------------------------


def chapter(file_name: str, body: str, title: str = "") -> epub.EpubHtml:
    item = epub.EpubHtml(title=title, file_name=file_name)
    item.content = f"<html><body>{body}</body></html>"
    return item


def book(*, language="fr", date="2021-03-04T00:00:00Z", title="Le Tour du monde") -> epub.EpubBook:
    """A nav document first in the spine, a chapter with a heading, one titled by the TOC
    only, an empty one, and a last one with a heading not at its start."""
    volume = epub.EpubBook()
    volume.set_identifier("livre-1")
    if title:
        volume.set_title(title)
    volume.set_language(language)
    if date:
        volume.add_metadata("DC", "date", date)
    chapters = [
        chapter("c1.xhtml", "<h1>Le départ</h1><p>Phileas Fogg parie.</p><script>x=1</script>"),
        chapter("c2.xhtml", "<p>Passepartout fait   ses bagages.</p><p>Ligne<br/>brisée</p>"),
        chapter("c3.xhtml", "<p> </p>"),
        chapter("c4.xhtml", "<p>Arrivée à Suez.</p><h2>Le canal</h2><p>Fin.</p>"),
    ]
    for item in chapters:
        volume.add_item(item)
    second = epub.Link("c2.xhtml#top", "Chapitre II", "c2")
    volume.toc = (epub.Link("c1.xhtml", "Chapitre I", "c1"),
                  (epub.Section("Deuxième partie"), (second,)))
    volume.add_item(epub.EpubNcx())
    volume.add_item(epub.EpubNav())
    volume.spine = ["nav", *chapters]
    return volume


def save_epub(volume, path: Path) -> Path:
    epub.write_epub(str(path), volume)
    return path


def test_epub_chapters_in_spine_order_with_sections_and_metadata(tmp_path):
    doc = load(save_epub(book(), tmp_path / "tour.epub"))
    assert doc.text == (
        "Le départ\n\nPhileas Fogg parie.\n\n"
        "Passepartout fait ses bagages.\n\nLigne\nbrisée\n\n"
        "Arrivée à Suez.\n\nLe canal\n\nFin."
    )
    assert doc.sections == (
        (0, "Le départ"),
        (doc.text.index("Passepartout"), "Chapitre II"),  # no heading: the TOC's title
        (doc.text.index("Arrivée"), "Le canal"),
    )
    assert doc.title == "Le Tour du monde" and doc.date == "2021-03-04"
    assert doc.language == "fr" and doc.pages is None
    assert_spans_index_the_text(doc)


@pytest.mark.parametrize("date, expected", [
    ("2021-03-04T00:00:00Z", "2021-03-04"), ("2019-11", "2019-11"), ("1872", "1872"),
    ("2021-02-30", None), ("le 4 mars", None), (None, None),
])
def test_epub_date_is_a_calendar_date_or_none(tmp_path, date, expected):
    assert load(save_epub(book(date=date), tmp_path / "d.epub")).date == expected


@pytest.mark.parametrize("language, expected", [("en-GB", "en"), ("FR", "fr"), ("de", "fr")])
def test_epub_language_from_metadata_else_detected(tmp_path, language, expected):
    assert load(save_epub(book(language=language), tmp_path / "l.epub")).language == expected


def test_epub_title_falls_back_to_the_first_chapter_title(tmp_path):
    assert load(save_epub(book(title=""), tmp_path / "t.epub")).title == "Le départ"


def with_encryption(path: Path, algorithm: str, target: str) -> Path:
    encryption = (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
        f'<enc:EncryptionMethod Algorithm="{algorithm}"/><enc:CipherData>'
        f'<enc:CipherReference URI="{target}"/></enc:CipherData></enc:EncryptedData></encryption>'
    )
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(epub_loader.ENCRYPTION, encryption)
    return path


def test_epub_with_drm_is_refused(tmp_path):
    path = with_encryption(save_epub(book(), tmp_path / "drm.epub"),
                           "http://www.w3.org/2001/04/xmlenc#aes128-cbc", "EPUB/c1.xhtml")
    assert reason(path) == "encrypted EPUB (DRM)" == epub_loader.DRM


def test_epub_with_obfuscated_fonts_only_loads(tmp_path):
    path = with_encryption(save_epub(book(), tmp_path / "fonts.epub"),
                           "http://www.idpf.org/2008/embedding", "EPUB/font.otf")
    assert load(path).text.startswith("Le départ")


def test_epub_without_text(tmp_path):
    volume = epub.EpubBook()
    volume.set_identifier("vide")
    empty = chapter("c.xhtml", "<p></p>")
    volume.add_item(empty)
    volume.add_item(epub.EpubNav())
    volume.spine = ["nav", empty]
    assert reason(save_epub(volume, tmp_path / "vide.epub")) == "no text content"
