"""PPTX, ODT and EPUB end to end: real files made by their own libraries, ingested with the real
embedding model; each answer cites the file holding the fact, with quotes that are exact spans
of the loader's text and, for the deck, the slide the fact is on."""

from __future__ import annotations

from pathlib import Path

import pytest
from ebooklib import epub
from odf import text as odf_text
from odf.opendocument import OpenDocumentText
from pptx import Presentation
from pptx.util import Inches

from ingest.loaders import load

FACT_SLIDE = 3


def write_pptx(path: Path) -> Path:
    deck = Presentation()
    slides = [
        ("Le port de Kerbrat", "Un petit port de pêche du Finistère, ouvert toute l'année."),
        ("La criée", "La vente du poisson a lieu chaque matin à six heures sur le quai."),
        ("Le phare", "Le phare de Kerbrat a été allumé pour la première fois en 1869 "
                     "par le gardien Yves Le Goff."),
    ]
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    box = deck.slides[0].shapes.add_textbox(Inches(1), Inches(6), Inches(4), Inches(1))
    box.text_frame.text = "Présentation de la capitainerie"
    deck.save(str(path))
    return path


def write_odt(path: Path) -> Path:
    document = OpenDocumentText()
    heading = odf_text.H(outlinelevel=1)
    heading.addText("Millbrook Observatory")
    document.text.addElement(heading)
    for sentence in (
        "The town of Millbrook lies in a valley west of the river.",
        "The great telescope of the Millbrook observatory was built in 1923 by the engineer "
        "Clara Voss, who ground its mirror herself.",
        "Visitors may tour the dome on Saturday afternoons.",
    ):
        paragraph = odf_text.P()
        paragraph.addText(sentence)
        document.text.addElement(paragraph)
    document.save(str(path))
    return path


def write_epub(path: Path) -> Path:
    book = epub.EpubBook()
    book.set_identifier("recettes-lorraines")
    book.set_title("Recettes de Lorraine")
    book.set_language("fr")
    chapters = []
    for number, (heading, body) in enumerate([
        ("La quiche", "La quiche lorraine se prépare avec des lardons, des œufs et de la "
                      "crème."),
        ("La tarte aux mirabelles", "La tarte aux mirabelles de Nancy demande exactement "
                                    "trois cents grammes de mirabelles dénoyautées."),
    ], 1):
        item = epub.EpubHtml(title=heading, file_name=f"chap{number}.xhtml", lang="fr")
        item.content = f"<html><body><h1>{heading}</h1><p>{body}</p></body></html>"
        book.add_item(item)
        chapters.append(item)
    book.toc = tuple(epub.Link(c.file_name, c.title, f"c{n}") for n, c in enumerate(chapters))
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    return path


@pytest.fixture
def office_docs(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "docs"
    folder.mkdir()
    return {
        "pptx": write_pptx(folder / "kerbrat.pptx"),
        "odt": write_odt(folder / "millbrook.odt"),
        "epub": write_epub(folder / "recettes.epub"),
    }


SECTIONS = {"odt": "Millbrook Observatory", "epub": "La tarte aux mirabelles"}
QUESTIONS = {
    "pptx": ("En quelle année le phare de Kerbrat a-t-il été allumé ?", "1869"),
    "odt": ("Who built the great telescope of the Millbrook observatory?", "Clara Voss"),
    "epub": ("Combien de grammes de mirabelles faut-il pour la tarte de Nancy ?", "trois cents"),
}


def test_each_format_is_ingested_and_cited_exactly(make_rag, office_docs):
    rag = make_rag()
    report = rag.ingest([next(iter(office_docs.values())).parent])
    assert not report.failed
    assert sorted(report.added) == sorted(str(p) for p in office_docs.values())
    docs = {kind: load(path) for kind, path in office_docs.items()}
    texts = {doc.source: doc.text for doc in docs.values()}

    for kind, (question, fact) in QUESTIONS.items():
        answer = rag.ask(question)
        assert not answer.abstained and answer.citations, kind
        for c in answer.citations:
            assert texts[c.source][c.start:c.end] == c.quote
        holding = [c for c in answer.citations if fact in c.quote]
        assert holding and all(c.source == docs[kind].source for c in holding), kind
        if kind == "pptx":
            assert {c.page for c in holding} == {FACT_SLIDE}
        else:  # the heading or chapter the quote is under (a chunk never spans two)
            assert {c.section for c in holding} == {SECTIONS[kind]}, kind
