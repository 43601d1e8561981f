"""PDF and DOCX loaders; every file is generated here, at test time."""

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from ingest.chunking import chunk_document
from ingest.loaders import LoadError, load, supported_suffixes
from ingest.loaders import archive as zip_limits
from ingest.loaders import docx as docx_loader
from ingest.loaders.pdf import CORRUPT, ENCRYPTED, NO_TEXT

ROOT = Path(__file__).resolve().parents[2]


def pdf_bytes(pages, *, title=None, page_extra="", trailer_extra=""):
    """A minimal PDF with a text layer: each string of a page is one Helvetica line
    (WinAnsiEncoding, so French accents work); a None page has no content stream."""
    objects = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    kids = []
    for lines in pages:
        contents = ""
        if lines is not None:
            shown = "".join(f"({escape(line)}) Tj T* " for line in lines)
            stream = f"BT /F1 12 Tf 14 TL 72 720 Td {shown}ET".encode("cp1252")
            objects.append(b"<< /Length %d >>\nstream\n%b\nendstream" % (len(stream), stream))
            contents = f" /Contents {len(objects)} 0 R"
        resources = "/Resources << /Font << /F1 1 0 R >> >>"
        objects.append(
            f"<< /Type /Page /Parent PAGES /MediaBox [0 0 612 792] {resources}{contents}"
            f"{page_extra} >>".encode()
        )
        kids.append(len(objects))
    kid_refs = " ".join(f"{kid} 0 R" for kid in kids)
    objects.append(f"<< /Type /Pages /Kids [{kid_refs}] /Count {len(kids)} >>".encode())
    pages_ref = f"{len(objects)} 0 R".encode()
    objects = [body.replace(b"PAGES", pages_ref) for body in objects]
    objects.append(b"<< /Type /Catalog /Pages %b >>" % pages_ref)
    trailer = f"/Size {len(objects) + 1} /Root {len(objects)} 0 R{trailer_extra}"
    if title:
        objects.append(b"<< /Title (%b) >>" % escape(title).encode("cp1252"))
        trailer += f" /Info {len(objects)} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%b\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += f"trailer\n<< {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def reason(path: Path) -> str:
    with pytest.raises(LoadError) as caught:
        load(path)
    return caught.value.reason


def words(texts: list[str]) -> list[int]:
    return [len(text.split()) for text in texts]


def test_both_suffixes_are_registered_and_import_stays_light():
    assert {".pdf", ".docx"} <= supported_suffixes()
    code = "import sys, ingest.loaders; print([m for m in ('pypdf', 'docx') if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# -- PDF ---------------------------------------------------------------------------------------


def test_pdf_text_with_accents_and_metadata_title(tmp_path):
    lines = ["Première page : café, déjà vu (oui).", "Deuxième ligne."]
    data = pdf_bytes([lines], title="Été à Paris")
    doc = load(write(tmp_path / "article.pdf", data))
    assert doc.text.splitlines() == lines
    assert doc.title == "Été à Paris"
    assert doc.pages == ((1, 0, len(doc.text)),)
    assert doc.source == str((tmp_path / "article.pdf").resolve())
    assert doc.date is None


def test_pdf_title_falls_back_to_first_line(tmp_path):
    data = pdf_bytes([["  Rapport trimestriel", "Corps du texte."]])
    doc = load(write(tmp_path / "notes.pdf", data))
    assert doc.title == "Rapport trimestriel"


def test_pdf_pages_are_joined_in_order_and_chunks_get_their_page(tmp_path):
    sentences = {n: [f"Page {n} sentence {k} is here." for k in range(12)] for n in (1, 3, 4)}
    data = pdf_bytes([sentences[1], None, sentences[3], sentences[4]])
    doc = load(write(tmp_path / "book.pdf", data))
    assert [number for number, _, _ in doc.pages] == [1, 2, 3, 4]
    for number, start, end in doc.pages:
        page_text = doc.text[start:end]
        assert page_text.split() == " ".join(sentences.get(number, [])).split()
    assert doc.text.index("Page 1 sentence 11") < doc.text.index("Page 3 sentence 0")
    assert doc.text.index("Page 3 sentence 11") < doc.text.index("Page 4 sentence 0")

    chunks = chunk_document(
        doc, count_tokens=words, max_tokens=12, overlap_tokens=0, hard_max_tokens=12, doc_hash="h"
    )
    assert len(chunks) > 6
    for chunk in chunks:
        start, end = chunk.metadata["start"], chunk.metadata["end"]
        assert doc.text[start:end] == chunk.page_content
        assert chunk.page_content.startswith(f"Page {chunk.metadata['page']} ")
    assert {chunk.metadata["page"] for chunk in chunks} == {1, 3, 4}


def test_pdf_with_no_text_layer(tmp_path):
    assert reason(write(tmp_path / "scan.pdf", pdf_bytes([None, None]))) == NO_TEXT


def encrypted(data: bytes, user_password: str) -> bytes:
    """`data` encrypted by pypdf (RC4: AES would need the optional 'cryptography' package)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_pdf_encrypted_with_a_password(tmp_path):
    data = encrypted(pdf_bytes([["Secret text."]]), "secret")
    assert reason(write(tmp_path / "locked.pdf", data)) == ENCRYPTED


def test_pdf_encrypted_with_an_empty_user_password_opens(tmp_path):
    data = encrypted(pdf_bytes([["Lisible sans mot de passe."]]), "")
    doc = load(write(tmp_path / "restricted.pdf", data))
    assert doc.text.strip() == "Lisible sans mot de passe."


def test_pdf_aes_256_encryption_is_refused_cleanly(tmp_path):
    """AES-256 (R6) needs the optional 'cryptography' package just to check a password: without
    it the reason says so; with it, this dictionary's made-up password hashes match nothing."""
    hexes = ("00" * 48, "00" * 48, "00" * 32, "00" * 32, "00" * 16)
    encrypt = (
        " /Encrypt << /Filter /Standard /V 5 /R 6 /Length 256 /P -4 /O <%s> /U <%s> /OE <%s>"
        " /UE <%s> /Perms <%s> /CF << /StdCF << /CFM /AESV3 /AuthEvent /DocOpen /Length 32 >> >>"
        " /StmF /StdCF /StrF /StdCF >> /ID [<00112233445566778899aabbccddeeff>"
        " <00112233445566778899aabbccddeeff>]"
    ) % hexes
    data = pdf_bytes([["Hidden."]], trailer_extra=encrypt)
    assert reason(write(tmp_path / "aes.pdf", data)).startswith(ENCRYPTED)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_pdf(tmp_path, keep):
    data = pdf_bytes([["Some text on page one."], ["And on page two."]])
    assert reason(write(tmp_path / "cut.pdf", data[: int(len(data) * keep)])) == CORRUPT


def test_not_a_pdf_and_empty_pdf(tmp_path):
    assert reason(write(tmp_path / "fake.pdf", b"just some text, no PDF structure")) == CORRUPT
    assert reason(write(tmp_path / "empty.pdf", b"")) == "empty file"


def test_pdf_over_a_pypdf_safety_limit(tmp_path):
    data = pdf_bytes([["Hello."]], page_extra=" /Junk [" + "0 " * 100_001 + "]")
    assert reason(write(tmp_path / "huge-array.pdf", data)).startswith("PDF over a safety limit: ")


def test_pdf_over_the_page_limit_is_refused_before_any_text_is_extracted(tmp_path, monkeypatch):
    from pypdf import PageObject

    path = write(tmp_path / "three.pdf", pdf_bytes([[f"Page {n}."] for n in (1, 2, 3)]))
    extracted = []  # a spy: pypdf still extracts each page's text, and the page is noted
    extract_text = PageObject.extract_text
    monkeypatch.setattr(PageObject, "extract_text",
                        lambda page, **kw: extracted.append(page) or extract_text(page, **kw))
    with pytest.raises(LoadError) as caught:
        load(path, max_pages=2)
    assert caught.value.reason == "too many pages (3 > 2 page limit; raise max_pdf_pages)"
    assert extracted == []

    assert [number for number, _, _ in load(path, max_pages=3).pages] == [1, 2, 3]
    assert load(path).text.split() == ["Page", "1.", "Page", "2.", "Page", "3."]


def test_page_limit_reason_counts_thousands(tmp_path):
    path = write(tmp_path / "dump.pdf", pdf_bytes([None] * 2345))
    with pytest.raises(LoadError) as caught:
        load(path, max_pages=2000)
    assert caught.value.reason == "too many pages (2,345 > 2,000 page limit; raise max_pdf_pages)"


# -- DOCX --------------------------------------------------------------------------------------


def save(document, path: Path) -> Path:
    document.save(str(path))
    return path


def report_docx() -> docx.document.Document:
    document = docx.Document()
    document.add_paragraph("Préambule avant le titre.")
    document.add_heading("Résultats de l'année", level=1)
    document.add_paragraph("Les ventes ont augmenté.")
    document.add_paragraph("   ")
    table = document.add_table(rows=3, cols=3)
    rows = [("Région", "2023", "2024"), ("Nord", "10", "12"), ("", "", "")]
    for row, values in zip(table.rows, rows):
        for cell, value in zip(row.cells, values):
            cell.text = value
    document.add_heading("Conclusion", level=2)
    document.add_paragraph("Une ligne\tavec tabulation.")
    return document


def test_docx_reading_order_paragraphs_and_table(tmp_path):
    doc = load(save(report_docx(), tmp_path / "report.docx"))
    assert doc.text == (
        "Préambule avant le titre.\n\n"
        "Résultats de l'année\n\n"
        "Les ventes ont augmenté.\n\n"
        "Région | 2023 | 2024\nNord | 10 | 12\n\n"
        "Conclusion\n\n"
        "Une ligne\tavec tabulation."
    )
    assert doc.title == "Résultats de l'année"  # the first heading, not the first line
    assert doc.pages is None and doc.date is None
    assert doc.language == "fr"


def test_docx_core_title_wins(tmp_path):
    document = report_docx()
    document.core_properties.title = "  Rapport 2024 "
    assert load(save(document, tmp_path / "titled.docx")).title == "Rapport 2024"


def test_docx_title_style_counts_as_a_heading_and_first_line_is_the_last_resort(tmp_path):
    document = docx.Document()
    document.add_paragraph("Intro line")
    document.add_heading("Le Titre", level=0)
    assert load(save(document, tmp_path / "a.docx")).title == "Le Titre"
    plain = docx.Document()
    plain.add_paragraph("")
    plain.add_paragraph("First real line\nsecond line")
    assert load(save(plain, tmp_path / "b.docx")).title == "First real line"


def test_docx_merged_cells_count_once(tmp_path):
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    merged = table.cell(0, 0).merge(table.cell(0, 1))
    merged.text = "Both   columns"
    table.cell(0, 2).text = "Right"
    for cell, value in zip(table.rows[1].cells, "abc"):
        cell.text = value
    assert load(save(document, tmp_path / "merged.docx")).text == "Both columns | Right\na | b | c"


def test_docx_without_text(tmp_path):
    assert reason(save(docx.Document(), tmp_path / "blank.docx")) == "no text content"


@pytest.mark.parametrize("suffix, legacy", [(".docx", ".doc document"), (".pptx", ".ppt presentation")])
def test_an_encrypted_or_legacy_office_file_is_refused_naming_the_fix(tmp_path, suffix, legacy):
    path = write(tmp_path / f"secret{suffix}", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))  # an OLE file
    assert reason(path) == f"encrypted (password-protected) or legacy {legacy}; save it as {suffix}"


def test_docx_that_is_not_a_zip(tmp_path):
    assert reason(write(tmp_path / "fake.docx", b"Plain text pretending.")) == docx_loader.NOT_A_ZIP
    assert reason(write(tmp_path / "empty.docx", b"")) == "empty file"


def test_zip_that_is_not_a_word_document(tmp_path):
    path = tmp_path / "other.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert reason(path) == docx_loader.CORRUPT


def test_zip_bomb_is_refused_before_unpacking(tmp_path):
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (20 << 20))
    assert path.stat().st_size < 100_000
    assert reason(path) == "compression ratio over 100:1 (zip bomb?); not unpacked"


def test_docx_over_the_unpacked_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(zip_limits, "MAX_UNPACKED_BYTES", 1 << 20)
    path = tmp_path / "big.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", os.urandom(3 << 18).hex())  # 1.5 MB, not a bomb
    assert reason(path) == "unpacks to 1.5 MB, over the 1 MB limit"
