"""OCR of scanned pages: pages per minute on this machine's cores and word accuracy against the
text rendered, for the way ``ingest.loaders.ocr`` runs Tesseract beside the two usual ones.

Pages: French text (the PIAF dev set's passages, ../shared/eval/piaf-fr-dev/docs: Wikipedia,
accents, names, figures) wrapped to 30 lines of at most 60 characters and rendered in DejaVu
Sans on a white A4 page at 200 dpi, as a clean scan. Each way reads the same ``--pages`` pages
(default 8), ``--runs`` times (default 3; the median is printed), the two slow ones
``--baseline-runs`` times (default 1: they take ~9 s a page here):

* ours: ``read_pages`` (the binary directly, PNG on stdin, one page per core, each with
  ``OMP_THREAD_LIMIT=1``), with an empty cache each run;
* binary, its own threads: the same command, pages one after another, Tesseract's OpenMP
  threads as they come;
* pytesseract (when installed: ``pip install pytesseract``): ``image_to_string``, pages one
  after another (it writes each image to a temporary file and runs the same binary).

Then a scanned PDF of the pages through ``ingest.loaders.load`` (pypdfium2 renders each page at
300 dpi, then ours), end to end. Accuracy: the share of the rendered words found in order in the
text read (longest common subsequence of words), per page; mean and worst page, as read and
with the typographic apostrophe counted as the plain one (Tesseract reads ’ as ', which changes
no word for a reader or for the keyword index's tokens). Target: >= 0.95 for French.

Run from the repository root:  python -m bench.ocr_bench [--pages 8] [--runs 3] [--baseline-runs 1]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from ingest.loaders import load
from ingest.loaders.ocr import DEFAULT_LANGUAGES, Ocr, clean, read_pages, tesseract
from tests.ingest.scans import page_image, word_accuracy  # the scans and the measure the OCR tests use

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "piaf-fr-dev" / "docs"
LINES, WIDTH = 30, 60


def page_texts(count: int) -> list[str]:
    words = " ".join(p.read_text(encoding="utf-8") for p in sorted(SHARED.glob("*.txt"))[:count * 2]).split()
    lines = textwrap.wrap(" ".join(words), WIDTH)
    return ["\n".join(lines[i:i + LINES]) for i in range(0, LINES * count, LINES)]


def render(text: str):
    return page_image(text.splitlines())


def ours(images) -> list[str]:
    with tempfile.TemporaryDirectory() as cache:
        return read_pages(Path("bench"), [lambda im=im: im for im in images],
                          Ocr(languages=DEFAULT_LANGUAGES, cache_dir=Path(cache)))


def binary_own_threads(images) -> list[str]:
    texts = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        done = subprocess.run([tesseract(), "stdin", "stdout", "-l", DEFAULT_LANGUAGES], input=buffer.getvalue(),
                              capture_output=True, check=True, env={k: v for k, v in os.environ.items()
                                                                    if k != "OMP_THREAD_LIMIT"})
        texts.append(clean(done.stdout.decode()))
    return texts


def with_pytesseract(images) -> list[str]:
    import pytesseract

    return [clean(pytesseract.image_to_string(image, lang=DEFAULT_LANGUAGES)) for image in images]


def timed(way, images, runs: int) -> tuple[float, list[str]]:
    seconds, texts = [], []
    for _ in range(runs):
        start = time.perf_counter()
        texts = way(images)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), texts


def report(label: str, seconds: float, pages: int, texts: list[str], expected: list[str], base: float) -> None:
    raw = [word_accuracy(t, e) for t, e in zip(texts, expected)]
    plain = [word_accuracy(t, e.replace("’", "'")) for t, e in zip(texts, expected)]
    print(f"{label:<40} {pages / seconds * 60:6.1f} pages/min {seconds / pages:6.2f} s/page  x{base / seconds:5.2f}  "
          f"accuracy mean {statistics.mean(raw):.3f} worst {min(raw):.3f}  (’=' {statistics.mean(plain):.3f} "
          f"worst {min(plain):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-runs", type=int, default=1)
    args = parser.parse_args()
    if tesseract() is None:
        raise SystemExit("tesseract is not installed: make ocr")
    expected = page_texts(args.pages)
    images = [render(t) for t in expected]
    print(f"# ocr_bench: {len(images)} French pages, {os.cpu_count()} cores, median of {args.runs} runs "
          f"({args.baseline_runs} for the two baselines); x: speed against the binary with its own threads",
          flush=True)
    ways = [("ours (binary, page per core, 1 thread)", ours, args.runs),
            ("binary, its own threads", binary_own_threads, args.baseline_runs)]
    try:
        import pytesseract  # noqa: F401

        ways.append(("pytesseract, its own threads", with_pytesseract, args.baseline_runs))
    except ImportError:
        print("(pytesseract not installed: its row is left out)")
    results = {label: timed(way, images, runs) for label, way, runs in ways}
    base = results["binary, its own threads"][0]
    for label, (seconds, texts) in results.items():
        report(label, seconds, len(images), texts, expected, base)
    with tempfile.TemporaryDirectory() as folder:
        pdf = Path(folder) / "scan.pdf"
        images[0].save(pdf, save_all=True, append_images=images[1:], resolution=200)

        def scanned(_images):
            with tempfile.TemporaryDirectory() as cache:
                doc = load(pdf, ocr=Ocr(languages=DEFAULT_LANGUAGES, cache_dir=Path(cache)))
            return [doc.text[s:e] for _, s, e in doc.pages]

        seconds, texts = timed(scanned, images, args.runs)
        report("scanned PDF, load() end to end", seconds, len(images), texts, expected, base)


if __name__ == "__main__":
    main()
