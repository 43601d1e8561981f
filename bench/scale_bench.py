"""Scale benchmark: ingest memory and speed, and retrieval latency, from 1k to 100k chunks.

The corpus is real text made larger: copies of the PIAF dev articles, each copy with its own
first line (a date and a numbered title) and its paragraphs rotated, so that no two files and
few chunks are alike. Chunks are small (``--chunk-tokens``, default 64) so that 100k of them
embed in minutes on 2 cores; the store and the keyword index see as many chunks as with big ones.

Each step ingests more files into the same data dir, in a child process (``RAG.ingest``, default
settings but the chunk size), whose peak RSS is read from /proc (VmHWM): peak memory, chunks
written per second. Then, warm ``rag.retrieve`` p50 over PIAF questions (median of 3 passes).
With ``--server``, the same steps against a real ``chroma run`` server (``chroma_url``).

Run from the repository root:  python -m bench.scale_bench [--steps 1000,10000,100000] [--server]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval" / "piaf-fr-dev"

_CHILD = """
import json, re, sys, time
from rag import RAG
settings = json.loads(sys.argv[2])
t0 = time.perf_counter()
with RAG(data_dir=sys.argv[1], **settings) as rag:
    report = rag.ingest([sys.argv[3]])
    chunks = rag.store.collection.count()
seconds = time.perf_counter() - t0
peak = int(re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1))
print(json.dumps({"seconds": seconds, "chunks": chunks, "added": len(report.added),
                  "failed": len(report.failed), "peak_kib": peak}))
"""


def make_copies(docs: list[Path], out: Path, start: int, count: int) -> None:
    """Copies ``start`` .. ``start + count - 1`` of the articles into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        doc = docs[i % len(docs)]
        title, _, body = doc.read_text(encoding="utf-8").partition("\n")
        paragraphs = [p for p in body.split("\n\n") if p.strip()]
        turn = (i // len(docs)) % max(1, len(paragraphs))
        paragraphs = paragraphs[turn:] + paragraphs[:turn]
        month = 1 + i % 12
        text = f"date {2000 + i % 25}-{month:02d} {title.strip()} (copie {i})\n\n" + "\n\n".join(paragraphs)
        (out / f"{i:06d}_{doc.name}").write_text(text + "\n", encoding="utf-8")


def latency(rag, questions: list[str], passes: int = 3) -> float:
    for q in questions[:5]:
        rag.retrieve(q)  # warm: model, caches, first-query costs
    medians = []
    for _ in range(passes):
        times = []
        for q in questions:
            t0 = time.perf_counter()
            rag.retrieve(q)
            times.append(time.perf_counter() - t0)
        medians.append(statistics.median(times))
    return statistics.median(medians)


def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    log = open(path.parent / "chroma.log", "ab")
    proc = subprocess.Popen([chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("chroma run did not start")


def run_mode(label: str, steps: list[int], docs: list[Path], questions: list[str], tmp: Path,
             settings: dict, chunks_per_file: float) -> list[dict]:
    from rag import RAG

    corpus, data = tmp / f"{label}-corpus", tmp / f"{label}-data"
    rows, files = [], 0
    for target in steps:
        if rows:  # the chunks per file seen so far
            chunks_per_file = rows[-1]["chunks"] / files
        want = max(1, round((target - (rows[-1]["chunks"] if rows else 0)) / chunks_per_file))
        make_copies(docs, corpus, files, want)
        files += want
        out = subprocess.run([sys.executable, "-c", _CHILD, str(data), json.dumps(settings), str(corpus)],
                             cwd=ROOT, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
        new_chunks = r["chunks"] - (rows[-1]["chunks"] if rows else 0)
        with RAG(data_dir=data, **settings) as rag:
            p50 = latency(rag, questions)
        rows.append({"chunks": r["chunks"], "files": files, "ingest_s": r["seconds"],
                     "chunks_per_s": new_chunks / r["seconds"], "peak_mib": r["peak_kib"] / 1024,
                     "p50_ms": 1000 * p50})
        row = rows[-1]
        print(f"  {label:<9} {row['chunks']:>8} chunks {row['files']:>6} files   ingest +{new_chunks:>6} "
              f"in {row['ingest_s']:7.1f} s = {row['chunks_per_s']:6.1f} chunks/s   peak RSS "
              f"{row['peak_mib']:6.0f} MiB   retrieve p50 {row['p50_ms']:6.1f} ms   "
              f"[load {os.getloadavg()[0]:.1f}]", flush=True)
    return rows


def summary(label: str, rows: list[dict]) -> None:
    first, last = rows[0], rows[-1]
    print(f"  {label}: p50 at {last['chunks']} / p50 at {first['chunks']} = "
          f"{last['p50_ms'] / first['p50_ms']:.2f} (target <= 2); ingest peak RSS {first['peak_mib']:.0f} -> "
          f"{last['peak_mib']:.0f} MiB (target < 3072, flat)")


def peak_mib(pid: int) -> float:
    """A running process's peak resident memory (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1000,10000,100000")
    parser.add_argument("--server", action="store_true", help="also run against a chroma run server")
    parser.add_argument("--server-steps", default="1000,10000")
    parser.add_argument("--chunk-tokens", type=int, default=64)
    parser.add_argument("--questions", type=int, default=50)
    args = parser.parse_args()
    docs = sorted((EVAL / "docs").glob("*.txt"))
    with (EVAL / "questions.jsonl").open(encoding="utf-8") as f:
        questions = [json.loads(line)["question"] for line in f][: args.questions]
    settings = {"chunk_tokens": args.chunk_tokens, "chunk_overlap_tokens": args.chunk_tokens // 4}
    tmp = Path(tempfile.mkdtemp(prefix="scale_bench_"))
    try:
        probe = run_mode("probe", [20], docs, questions[:5], tmp, settings, 1.0)
        per_file = probe[0]["chunks"] / probe[0]["files"]
        print(f"# scale_bench: {per_file:.1f} chunks per file at {args.chunk_tokens} tokens; "
              f"{os.cpu_count()} CPUs")
        steps = [int(s) for s in args.steps.split(",")]
        summary("embedded", run_mode("embedded", steps, docs, questions, tmp, settings, per_file))
        if args.server:
            proc, url = start_server(tmp / "server-db")
            try:
                steps = [int(s) for s in args.server_steps.split(",")]
                rows = run_mode("server", steps, docs, questions, tmp, {**settings, "chroma_url": url}, per_file)
                summary("server", rows)
                print(f"  server: the chroma run process's own peak RSS {peak_mib(proc.pid):.0f} MiB")
            finally:
                proc.terminate()
                proc.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
