"""Ingest throughput of each format beside a .txt of the same text.

The text: the first ``--docs`` passages of the PIAF dev set (../shared/eval/piaf-fr-dev/docs,
French Wikipedia; default 40, about 40,000 words), one paragraph each. It is written once as
each format by that format's own library: .txt; .docx (a paragraph each); .odt (a paragraph
each); .epub (a chapter of 5 paragraphs each); .pptx (a slide a paragraph); .xlsx and .csv (a row
a paragraph, columns `n` and `text`); .html (a <p> each); .eml (the body). Each file is ingested alone into a
fresh data dir by ``RAG.ingest`` (load, chunk, embed, store), ``--runs`` times (default 3; the
median; after an untimed first ingest), and loaded alone (``ingest.loaders.load``: the extraction only). Printed per format:
seconds to ingest, to load, words per second ingested, and each against the .txt (ratio).

Scans are ``bench/ocr_bench.py``'s.

Run from the repository root:  python -m bench.formats_bench [--docs 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import html
import os
import statistics
import tempfile
import time
from pathlib import Path

from ingest.loaders import load

PIAF = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "piaf-fr-dev" / "docs"


def paragraphs(count: int) -> list[str]:
    return [" ".join(p.read_text(encoding="utf-8").split()) for p in sorted(PIAF.glob("*.txt"))[:count]]


def write_txt(path: Path, paras: list[str]) -> None:
    path.write_text("\n\n".join(paras), encoding="utf-8")


def write_html(path: Path, paras: list[str]) -> None:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paras)
    path.write_text(f"<html><head><title>PIAF</title></head><body><main>{body}</main></body></html>", encoding="utf-8")


def write_docx(path: Path, paras: list[str]) -> None:
    import docx

    document = docx.Document()
    for p in paras:
        document.add_paragraph(p)
    document.save(str(path))


def write_odt(path: Path, paras: list[str]) -> None:
    from odf import text as odf_text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    for p in paras:
        paragraph = odf_text.P()
        paragraph.addText(p)
        document.text.addElement(paragraph)
    document.save(str(path))


def write_epub(path: Path, paras: list[str]) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("piaf-bench")
    book.set_title("PIAF")
    book.set_language("fr")
    chapters = []
    for n in range(0, len(paras), 5):
        item = epub.EpubHtml(title=f"Chapitre {n // 5 + 1}", file_name=f"c{n}.xhtml", lang="fr")
        item.content = "<html><body>" + "".join(f"<p>{html.escape(p)}</p>" for p in paras[n:n + 5]) + "</body></html>"
        book.add_item(item)
        chapters.append(item)
    book.toc = tuple(chapters)
    book.add_item(epub.EpubNcx())
    book.spine = chapters
    epub.write_epub(str(path), book)


def write_pptx(path: Path, paras: list[str]) -> None:
    from pptx import Presentation

    deck = Presentation()
    for p in paras:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = p.split(".")[0][:60]
        slide.placeholders[1].text = p
    deck.save(str(path))


def write_xlsx(path: Path, paras: list[str]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["n", "text"])
    for n, p in enumerate(paras, 1):
        sheet.append([n, p])
    book.save(str(path))


def write_csv(path: Path, paras: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["n", "text"])
        writer.writerows([n, p] for n, p in enumerate(paras, 1))


def write_eml(path: Path, paras: list[str]) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"], message["From"], message["Date"] = "PIAF", "bench@example.org", "Tue, 14 Mar 2023 09:30:00 +0100"
    message.set_content("\n\n".join(paras))
    path.write_bytes(bytes(message))


WRITERS = {".txt": write_txt, ".html": write_html, ".docx": write_docx, ".odt": write_odt, ".epub": write_epub,
           ".pptx": write_pptx, ".xlsx": write_xlsx, ".csv": write_csv, ".eml": write_eml}


def median_seconds(work, runs: int) -> float:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from rag import RAG
    from rag.factory import make_embedder
    from rag.settings import Settings

    paras = paragraphs(args.docs)
    words = sum(len(p.split()) for p in paras)
    embedder = make_embedder(Settings())
    embedder.embed_documents(["échauffement"])  # the model loads once, before any timing
    print(f"# formats_bench: {len(paras)} PIAF passages, {words:,} words, {os.cpu_count()} cores, "
          f"median of {args.runs} runs; ratio: against the .txt", flush=True)
    print(f"{'format':<7} {'ingest s':>9} {'words/s':>8} {'ratio':>6}   {'load s':>8} {'ratio':>7}  chunks")
    chunks, base = {}, None
    with tempfile.TemporaryDirectory() as folder:
        warm = Path(folder) / "warm-up.txt"  # a first ingest, untimed: the runtime's first batches are slower
        write_txt(warm, paras)
        with RAG(data_dir=Path(folder) / "warm-up", embedder=embedder) as rag:
            rag.ingest([warm])
        for suffix, write in WRITERS.items():
            path = Path(folder) / f"piaf{suffix}"
            write(path, paras)
            runs = iter(range(args.runs))

            def ingest():
                with RAG(data_dir=Path(folder) / f"data{suffix}{next(runs)}", embedder=embedder) as rag:
                    report = rag.ingest([path])
                    assert not report.failed, report.failed
                    chunks[suffix] = report.chunks

            seconds = median_seconds(ingest, args.runs)
            loading = median_seconds(lambda: load(path), args.runs)
            base = base or (seconds, loading)  # the .txt, first
            print(f"{suffix:<7} {seconds:9.2f} {words / seconds:8.0f} {seconds / base[0]:6.2f}   "
                  f"{loading:8.3f} {loading / base[1]:7.2f}  {chunks[suffix]}", flush=True)


if __name__ == "__main__":
    main()
