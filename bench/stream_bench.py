"""Large text files: peak memory and speed of ``RAG.ingest`` on one big file, read a part at a
time (the default) or whole (the way every file was read before: ``PART_BYTES`` set past the
file's size), side by side.

Two kinds of file:
* ``prose``: real text, the PIAF dev articles repeated (each copy's paragraphs numbered), every
  byte of it chunked and embedded (default chunk size);
* ``export``: a data export, a sentence, then 20,000-character runs of base64-like data on their
  own lines (left out of the chunks, as any run of 10,000+ characters without a space), then a
  last sentence: the file is read, decoded and scanned whole, and only two chunks embedded.

Each ingest runs in a fresh child process; its peak RSS is read from /proc (VmHWM), and its
last passage is retrieved to show that it was indexed.

Parts are ``--part-mb`` large (default: the loader's 4 MB); prose embeds at ~1 MB a minute on 2
cores, so its files are best kept a few parts large with a smaller part size.

Run from the repository root:
  python -m bench.stream_bench [--prose-mb 2,8] [--export-mb 50,200] [--part-mb 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT.parent / "shared" / "eval" / "piaf-fr-dev" / "docs"

_CHILD = """
import json, re, sys, time
import ingest.loaders.text
from rag import RAG
ingest.loaders.text.PART_BYTES = 1 << 40 if sys.argv[3] == "whole" else int(sys.argv[5])
t0 = time.perf_counter()
with RAG(data_dir=sys.argv[1]) as rag:
    report = rag.ingest([sys.argv[2]])
    seconds = time.perf_counter() - t0
    last = next(p for p in rag.retrieve(sys.argv[4], k=5) if "Ar-Men" in p.text)
peak = int(re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1))
print(json.dumps({"seconds": seconds, "chunks": report.chunks, "failed": report.failed,
                  "peak_kib": peak, "last_start": last.start}))
"""

LAST = "Le phare d'Ar-Men, au large de l'île de Sein, fut allumé pour la première fois en 1881."
QUESTION = "En quelle année le phare d'Ar-Men fut-il allumé pour la première fois ?"


def write_prose(path: Path, megabytes: float) -> None:
    paragraphs = [p.strip() for doc in sorted(DOCS.glob("*.txt"))
                  for p in doc.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    size, copy = 0, 0
    with open(path, "w", encoding="utf-8") as out:
        out.write("date 2024-01-01 Articles de PIAF, mis bout à bout\n\n")
        while size < megabytes * 2**20:
            for n, paragraph in enumerate(paragraphs):
                size += out.write(f"{copy}.{n}. {paragraph}\n\n")
            copy += 1
        out.write(LAST + "\n")


def write_export(path: Path, megabytes: float) -> None:
    filler = (b"QmFzZTY0IGRhdGEgZnJvbSBhbiBleHBvcnQ" * 600)[:20_000] + b"\n"
    with open(path, "wb") as out:
        out.write("Ce fichier est un export de la base des phares.\n".encode())
        for _ in range(int(megabytes * 2**20) // len(filler) + 1):
            out.write(filler)
        out.write((LAST + "\n").encode())


def run(path: Path, mode: str, tmp: Path, part_bytes: int) -> dict:
    data = tmp / f"data-{path.stem}-{mode}"
    out = subprocess.run([sys.executable, "-c", _CHILD, str(data), str(path), mode, QUESTION, str(part_bytes)],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prose-mb", default="2,8", help="sizes of the prose files, in MB")
    parser.add_argument("--export-mb", default="50,200", help="sizes of the export files, in MB")
    parser.add_argument("--part-mb", type=float, default=4, help="the part size, in MB")
    args = parser.parse_args()
    part_bytes = int(args.part_mb * 2**20)
    print(f"# stream_bench: one file per ingest, fresh data dir and process, parts of {args.part_mb:g} MB; "
          f"{os.cpu_count()} CPUs")
    print(f"  {'file':<8} {'MB':>6} {'chunks':>7}   {'in parts: s':>11} {'peak MiB':>9}   "
          f"{'whole: s':>8} {'peak MiB':>9}   {'peak whole / parts':>18}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for kind, sizes, write in (("prose", args.prose_mb, write_prose), ("export", args.export_mb, write_export)):
            for megabytes in (float(s) for s in sizes.split(",") if s):
                path = tmp / f"{kind}-{megabytes:g}.txt"
                write(path, megabytes)
                size = path.stat().st_size / 2**20
                parts, whole = run(path, "parts", tmp, part_bytes), run(path, "whole", tmp, part_bytes)
                for r in (parts, whole):
                    assert not r["failed"] and r["last_start"] > (size - 1) * 2**20, r
                assert parts["chunks"] == whole["chunks"] or kind == "prose", (parts, whole)
                print(f"  {kind:<8} {size:6.1f} {parts['chunks']:>7}   {parts['seconds']:11.1f} "
                      f"{parts['peak_kib'] / 1024:9.0f}   {whole['seconds']:8.1f} {whole['peak_kib'] / 1024:9.0f}   "
                      f"{whole['peak_kib'] / parts['peak_kib']:18.2f}   [load {os.getloadavg()[0]:.1f}]", flush=True)
                path.unlink()


if __name__ == "__main__":
    main()
