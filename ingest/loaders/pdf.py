"""PDF: the text layer of each page, extracted with pypdf, pages joined by a blank line; a page
without one (a scan) is rendered (pypdfium2, 300 dpi) and read by OCR (``ingest.loaders.ocr``).

Offsets index the extracted text (`LoadedDocument.text`), not the PDF bytes; `pages` gives each
page's span of it, so every chunk gets the (1-based) number of its page, scanned or not. PDFs
that need a password and PDFs with more pages than `max_pages` (counted before any text is
extracted) are refused, and so are scans without Tesseract installed (the reason names the fix)
or over the OCR limits; pypdf and pypdfium2 are imported on first use.
"""

from __future__ import annotations

import logging
import threading
from io import BytesIO
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.base import LoadedDocument, LoadError, join_spans, read_bytes, register
from ingest.loaders.ocr import Ocr, missing_reason, read_pages, tesseract
from ingest.loaders.text import cap_title, first_line

ENCRYPTED = "encrypted PDF"
NO_TEXT = "no extractable text"
NO_OCR = missing_reason("no extractable text: a scanned PDF")
CORRUPT = "corrupt or truncated PDF"
SCAN_CHARS = 10
"""A page whose text layer has fewer visible characters than this is read as a scan."""
DPI = 300


@register((".pdf",), options=("max_pages", "ocr"))
def load_pdf(path: Path, *, max_pages: int | None = None, ocr: Ocr | None = None) -> LoadedDocument:
    """Load a PDF's text, its scanned pages read by OCR; raises LoadError for unreadable,
    encrypted or text-less files and for files with more than `max_pages` pages (None: no
    limit)."""
    data = read_bytes(path)
    if not data.strip():
        raise LoadError(path, "empty file")
    texts, title = _extract(path, data, max_pages)
    scans = [n for n, t in enumerate(texts) if len("".join(t.split())) < SCAN_CHARS]
    if scans and tesseract() is None and len(scans) == len(texts):
        raise LoadError(path, NO_OCR)
    if scans and tesseract() is not None:
        for n, read in zip(scans, read_pages(path, _renderers(path, data, scans), ocr or Ocr())):
            texts[n] = read
    text, pages = join_spans(enumerate(texts, 1))
    if not text.strip():
        raise LoadError(path, NO_TEXT)
    return LoadedDocument(
        source=str(path),
        text=text,
        title=cap_title(title) if title and title.strip() else first_line(text),
        date=None,
        pages=tuple(pages),
        language=detect_language(text),
    )


def _renderers(path: Path, data: bytes, numbers: list[int]):
    """A function per page (0-based ``numbers``) rendering it as a grey image; pdfium is not
    thread-safe, so renders take turns."""
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError:
        raise LoadError(path, CORRUPT) from None
    lock = threading.Lock()

    def render(n: int):
        with lock:
            return document[n].render(scale=DPI / 72, grayscale=True).to_pil()

    return [lambda n=n: render(n) for n in numbers]


def too_many_pages(count: int, limit: int) -> str:
    """The reason given for a PDF over the page limit (the `max_pdf_pages` setting of rag)."""
    return f"too many pages ({count:,} > {limit:,} page limit; raise max_pdf_pages)"


def _extract(path: Path, data: bytes, max_pages: int | None) -> tuple[list[str], str | None]:
    """(text of each page, metadata title); every pypdf failure becomes a LoadError, and so
    does a page count over `max_pages`, checked before any page's text is extracted."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # the reason below says it in one line

    try:
        reader = PdfReader(BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileNotDecryptedError(ENCRYPTED)
        pages = reader.pages
        if max_pages is not None and len(pages) > max_pages:
            raise LoadError(path, too_many_pages(len(pages), max_pages))
        texts = [page.extract_text() for page in pages]
        metadata = reader.metadata
        return texts, metadata.title if metadata else None
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError(path, ENCRYPTED) from None
    except DependencyError as error:  # AES encryption needs the optional 'cryptography' package
        raise LoadError(path, f"{ENCRYPTED}: {error}") from None
    except LimitReachedError as error:
        raise LoadError(path, f"PDF over a safety limit: {error}") from None
    except Exception:  # malformed files make pypdf raise almost any exception type
        raise LoadError(path, CORRUPT) from None
