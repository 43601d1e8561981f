"""Scans answered and cited: a French two-page scan made in the test and an image, ingested with
the real Tesseract, the real model and real Chroma; the citation names the page, and its quote
is the OCR text at its offsets."""

from __future__ import annotations

import pytest

from ingest.loaders.ocr import tesseract
from tests.conftest import missing
from tests.ingest.scans import page_image, scanned_pdf

PAGE_1 = ["Compte rendu du conseil municipal de Douarnenez.",
          "La séance s'est ouverte à dix-huit heures.",
          "Le budget des écoles a été adopté à l'unanimité."]
PAGE_2 = ["Le phare de Kermorvan sera repeint cet été.",
          "Les travaux de peinture coûteront quarante mille euros.",
          "Le chantier durera trois semaines."]


@pytest.fixture(autouse=True)
def _tesseract():
    if tesseract() is None:
        missing("tesseract is not installed (apt install tesseract-ocr tesseract-ocr-fra; `make test` does)")


def test_a_question_about_page_2_of_a_scan_cites_page_2(make_rag, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    scan = scanned_pdf(docs / "conseil.pdf", [PAGE_1, PAGE_2])
    rag = make_rag()
    report = rag.ingest([docs])
    assert report.added == [str(scan)] and not report.failed
    answer = rag.ask("Combien coûteront les travaux de peinture du phare de Kermorvan ?")
    assert not answer.abstained and answer.citations
    cited = answer.citations[0]
    assert cited.source == str(scan) and cited.page == 2
    assert "quarante mille euros" in cited.quote
    assert rag.document_text(cited.source, cited.start, cited.end) == cited.quote  # the OCR text at its offsets
    assert rag.doctor(repair=False).ok  # and every chunk's offsets hold


def test_an_image_is_answered_from_its_text(make_rag, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    page_image(PAGE_2).save(docs / "affiche.png")
    rag = make_rag()
    assert not rag.ingest([docs]).failed
    answer = rag.ask("Combien de semaines durera le chantier ?")
    assert answer.citations and answer.citations[0].source == str(docs / "affiche.png")
    assert "trois semaines" in answer.citations[0].quote and answer.citations[0].page == 1
    assert rag.document_text(str(docs / "affiche.png"), answer.citations[0].start,
                             answer.citations[0].end) == answer.citations[0].quote
