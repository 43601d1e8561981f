"""Scans made in the test: lines of text rendered to page images (Pillow, DejaVu Sans), saved as
an image-only PDF, a PNG or a multi-page TIFF, as a scanner would give them."""

from __future__ import annotations

from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian's fonts-dejavu-core
PAGE = (1700, 2200)  # A4-ish at 200 dpi


def page_image(lines: list[str]):
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 36)
    image = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((120, 150 + i * 60), line, font=font, fill=0)
    return image


def scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF of one image a page, no text layer."""
    first, *rest = [page_image(lines) for lines in pages]
    first.save(path, save_all=True, append_images=rest, resolution=200)
    return path


def word_accuracy(read: str, expected: str) -> float:
    """The share of the expected words found, in order, in what OCR read (a longest common
    subsequence of words over the expected count)."""
    a, b = expected.split(), read.split()
    row = [0] * (len(b) + 1)
    for word in a:
        prev = 0
        for j, other in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if word == other else max(row[j], row[j - 1])
    return row[-1] / max(len(a), 1)
