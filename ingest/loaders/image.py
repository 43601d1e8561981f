"""Images (.png, .jpg, .jpeg, .tif, .tiff): the text read by OCR (``ingest.loaders.ocr``); each
frame of a multi-page TIFF is a page, pages joined by a blank line.

Offsets index the OCR text (`LoadedDocument.text`); `pages` gives each page's span of it. An
image over Pillow's decompression-bomb limit, one Pillow cannot read, one without text, and any
image when Tesseract is not installed are refused with a one-line reason; Pillow is imported on
first use.
"""

from __future__ import annotations

from pathlib import Path

from ingest.language import detect_language
from ingest.loaders.base import LoadedDocument, LoadError, join_spans, register
from ingest.loaders.ocr import Ocr, missing_reason, read_pages, tesseract
from ingest.loaders.pdf import too_many_pages
from ingest.loaders.text import first_line

UNREADABLE = "not an image Pillow can read (corrupt or unsupported)"


@register((".png", ".jpg", ".jpeg", ".tif", ".tiff"), options=("max_pages", "ocr"))
def load_image(path: Path, *, max_pages: int | None = None, ocr: Ocr | None = None) -> LoadedDocument:
    """Read an image's text by OCR; raises LoadError (see the module's doc)."""
    if tesseract() is None:
        raise LoadError(path, missing_reason("an image"))
    frames = _frames(path, max_pages)
    texts = read_pages(path, [lambda n=n: _frame(path, n) for n in range(frames)], ocr or Ocr())
    text, pages = join_spans(enumerate(texts, 1))
    if not text.strip():
        raise LoadError(path, "no text found by OCR")
    return LoadedDocument(source=str(path), text=text, title=first_line(text), date=None,
                          pages=tuple(pages), language=detect_language(text))


def _frames(path: Path, max_pages: int | None) -> int:
    """How many pages (frames) the image has, checked before any is decoded."""
    with _opened(path) as image:
        count = getattr(image, "n_frames", 1)
    if max_pages is not None and count > max_pages:
        raise LoadError(path, too_many_pages(count, max_pages))
    return count


def _frame(path: Path, n: int):
    """Frame ``n`` as a grey image, decoded (each worker opens the file itself)."""
    with _opened(path) as image:
        try:
            image.seek(n)
            return image.convert("L")
        except (OSError, ValueError, EOFError):
            raise LoadError(path, UNREADABLE) from None


def _opened(path: Path):
    from PIL import Image

    try:
        return Image.open(path)
    except Image.DecompressionBombError:
        raise LoadError(path, f"image over {2 * Image.MAX_IMAGE_PIXELS:,} pixels (decompression bomb?); "
                              "not decoded") from None
    except (FileNotFoundError, PermissionError) as error:
        raise LoadError(path, (error.strerror or str(error)).lower()) from None
    except OSError:
        raise LoadError(path, "empty file" if path.stat().st_size == 0 else UNREADABLE) from None
