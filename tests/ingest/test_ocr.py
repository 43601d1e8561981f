"""OCR of scanned PDFs and images with the real Tesseract; every scan is rendered in the test
(tests/ingest/scans.py), so what OCR should read is known word for word."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter

from ingest.loaders import LoadError, load
from ingest.loaders.ocr import Ocr, tesseract
from ingest.loaders.pdf import NO_OCR, NO_TEXT
from tests.conftest import missing

from .scans import page_image, scanned_pdf, word_accuracy
from .test_pdf_docx import pdf_bytes

PAGE_1 = ["Compte rendu du conseil municipal de Douarnenez", "La séance s'est ouverte à dix-huit heures."]
PAGE_2 = ["Le phare de Kermorvan sera repeint cet été.", "Les travaux coûteront quarante mille euros."]


@pytest.fixture(autouse=True)
def _tesseract():
    if tesseract() is None:
        missing("tesseract is not installed (apt install tesseract-ocr tesseract-ocr-fra; `make test` does)")


def reason(path, **options) -> str:
    with pytest.raises(LoadError) as error:
        load(path, **options)
    return error.value.reason


def test_a_french_two_page_scan_is_read_page_by_page(tmp_path):
    doc = load(scanned_pdf(tmp_path / "conseil.pdf", [PAGE_1, PAGE_2]))
    assert [number for number, _, _ in doc.pages] == [1, 2]
    for (number, start, end), lines in zip(doc.pages, (PAGE_1, PAGE_2)):
        assert word_accuracy(doc.text[start:end], " ".join(lines)) >= 0.95, (number, doc.text[start:end])
    assert doc.text[doc.pages[1][1]:].startswith("Le phare de Kermorvan")
    assert doc.language == "fr"


def test_a_pdf_with_a_text_page_and_a_scanned_page_gets_both(tmp_path):
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf_bytes([["Rapport annuel du port de Brest."]]))))
    writer.append(PdfReader(scanned_pdf(tmp_path / "scan.pdf", [PAGE_2])))
    mixed = tmp_path / "mixed.pdf"
    writer.write(mixed)
    doc = load(mixed)
    (_, s1, e1), (_, s2, e2) = doc.pages
    assert doc.text[s1:e1].strip() == "Rapport annuel du port de Brest."  # the text layer, as it is
    assert word_accuracy(doc.text[s2:e2], " ".join(PAGE_2)) >= 0.95


def test_images_are_read_and_a_tiff_gives_a_page_a_frame(tmp_path):
    png = tmp_path / "affiche.png"
    page_image(PAGE_2).save(png)
    assert word_accuracy(load(png).text, " ".join(PAGE_2)) >= 0.95
    jpg = tmp_path / "affiche.jpg"
    page_image(PAGE_1).save(jpg, quality=90)
    assert word_accuracy(load(jpg).text, " ".join(PAGE_1)) >= 0.95
    tiff = tmp_path / "dossier.tiff"
    page_image(PAGE_1).save(tiff, save_all=True, append_images=[page_image(PAGE_2)])
    doc = load(tiff)
    assert [n for n, _, _ in doc.pages] == [1, 2]
    assert doc.text[doc.pages[1][1]:doc.pages[1][2]].startswith("Le phare")
    assert reason(tiff, max_pages=1) == "too many pages (2 > 1 page limit; raise max_pdf_pages)"


def test_limits_refuse_a_scan_before_or_while_it_is_read(tmp_path):
    scan = scanned_pdf(tmp_path / "long.pdf", [PAGE_1, PAGE_2, PAGE_1])
    assert reason(scan, ocr=Ocr(max_pages=2)) == "3 scanned pages to OCR, over the 2-page limit (raise max_ocr_pages)"
    assert reason(scan, ocr=Ocr(timeout_s=1e-9)).startswith("OCR over its 0 s limit")
    assert reason(scan, ocr=Ocr(languages="xyz")).startswith("OCR failed on page 1: ")


def test_bad_images_are_refused_by_name(tmp_path, monkeypatch):
    from PIL import Image

    (tmp_path / "empty.png").write_bytes(b"")
    assert reason(tmp_path / "empty.png") == "empty file"
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert reason(tmp_path / "broken.jpg") == "not an image Pillow can read (corrupt or unsupported)"
    page_image(PAGE_1).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert reason(tmp_path / "huge.png") == "image over 2,000 pixels (decompression bomb?); not decoded"
    assert reason(scanned_pdf(tmp_path / "blank.pdf", [[]])) == NO_TEXT


def test_without_tesseract_scans_are_refused_naming_the_fix_and_text_pages_still_load(tmp_path, monkeypatch):
    scan = scanned_pdf(tmp_path / "scan.pdf", [PAGE_1])
    page_image(PAGE_1).save(tmp_path / "page.png")
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))  # tesseract is nowhere to be found
    assert reason(scan) == NO_OCR
    assert "apt install tesseract-ocr tesseract-ocr-fra" in NO_OCR
    assert reason(tmp_path / "page.png").startswith("an image; reading it needs Tesseract OCR")
    (tmp_path / "text.pdf").write_bytes(pdf_bytes([["Une page de texte."]]))
    assert load(tmp_path / "text.pdf").text.strip() == "Une page de texte."


def test_the_text_read_is_cached_and_read_again_as_it_was_indexed(tmp_path):
    cache = tmp_path / "cache"
    scan = scanned_pdf(tmp_path / "scan.pdf", [PAGE_1, PAGE_2])
    indexed = load(scan, ocr=Ocr(languages="fra", cache_dir=cache))
    entries = sorted(cache.rglob("*.txt"))
    assert len(entries) == 2 and {e.read_text(encoding="utf-8").split("\n")[0] for e in entries} == {"fra"}
    assert load(scan, ocr=Ocr(cache_dir=cache)).text == indexed.text  # a reader: the cached text
    load(scan, ocr=Ocr(languages="eng", cache_dir=cache))  # other languages: read again
    assert {e.read_text(encoding="utf-8").split("\n")[0] for e in entries} == {"eng"}
