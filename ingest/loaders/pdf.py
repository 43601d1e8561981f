"""PDF: the text layer of each page, extracted with pypdf, pages joined by a blank line.

Offsets index the extracted text (`LoadedDocument.text`), not the PDF bytes; `pages` gives each
page's span of it, so every chunk gets the (1-based) number of the page it starts on. Scanned
PDFs (no text layer), PDFs that need a password and PDFs with more pages than `max_pages` (counted
before any text is extracted) are refused; pypdf is imported on first use.
"""

from __future__ import annotations

import logging
from io import BytesIO
from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.base import LoadedDocument, LoadError, read_bytes, register
from ingest.loaders.text import cap_title, first_line

PAGE_SEPARATOR = "\n\n"
ENCRYPTED = "encrypted PDF"
NO_TEXT = "no extractable text; scanned PDF?"
CORRUPT = "corrupt or truncated PDF"


@register((".pdf",), paged=True)
def load_pdf(path: Path, *, max_pages: int | None = None) -> LoadedDocument:
    """Load a PDF's text layer; raises LoadError for unreadable, encrypted or text-less files and
    for files with more than `max_pages` pages (None: no limit)."""
    data = read_bytes(path)
    if not data.strip():
        raise LoadError(path, "empty file")
    texts, title = _extract(path, data, max_pages)
    pages = []
    start = 0
    for number, page_text in enumerate(texts, 1):
        pages.append((number, start, start + len(page_text)))
        start += len(page_text) + len(PAGE_SEPARATOR)
    text = PAGE_SEPARATOR.join(texts)
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
