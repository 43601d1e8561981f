"""Benchmark the BM25 keyword index: add throughput and search latency at 1k/10k/100k chunks.

Speed: add throughput, search latency p50/p95 (k=10; the median of ``--runs`` runs), with source
and date filters, replace_source, file size. ``--hit5``: PIAF dev hit@1/hit@5 of the fused
retriever (``RAG.retrieve``, default settings); the PIAF docs are ingested once (``--rag-data``
names a data dir that holds them or is to hold them).

Chunks are ~150-word windows of French Wikipedia paragraphs (PIAF eval docs), with
sentences mixed in from other documents so that no two chunks are alike; queries are the
real PIAF questions. The vocabulary is smaller than a real 100k-chunk corpus, so document
frequencies are higher and search is slower than it would be: figures are conservative.

FTS5's bm25() replaced BM25 hand-written in SQL after this bench compared them side by side,
the two interleaved query by query (2 shared, busy cores; the commit that added
``vectorstore/keyword_fts5.py`` holds that version): fused hit@5 on the 3,901 PIAF dev questions
0.9239 against 0.9234 (hit@1 0.7731 both); at 100k chunks search p50 / p95 15.97 / 47.76 ms
against 18.29 / 62.88 (0.87x), with 50 sources 2.98 against 2.03 ms (1.47x), with dates 16.5
against 57.4 ms (0.29x); add 2,400 against 1,008 chunks/s; file 111 against 198 MiB.

Run from the repository root:
    python -m bench.keyword_bench [--docs DIR] [--sizes 1000,10000,100000] [--runs 3]
    python -m bench.keyword_bench --sizes '' --hit5 [--rag-data DIR] [--questions all]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vectorstore.keyword import KeywordIndex
from vectorstore.textproc import analyze

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "piaf-fr-dev"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def load_sentences(docs: Path) -> list[list[str]]:
    """Sentences of each document, documents with at least a few sentences."""
    out = []
    for path in sorted(docs.glob("*.txt")):
        sentences = [s for s in _SENTENCE.split(path.read_text(encoding="utf-8")) if len(s.split()) > 3]
        if len(sentences) >= 4:
            out.append(sentences)
    return out


def make_chunks(docs: list[list[str]], n: int, rng: random.Random):
    """Yield (id, text, metadata): ~150 words from one document, ~1/4 of sentences borrowed."""
    for i in range(n):
        doc = rng.choice(docs)
        start = rng.randrange(len(doc))
        words, parts = 0, []
        while words < 150:
            sentence = doc[(start + len(parts)) % len(doc)] if rng.random() < 0.75 else rng.choice(rng.choice(docs))
            parts.append(sentence)
            words += len(sentence.split())
        meta = {"source": f"doc{i // 20:05d}.txt", "language": "fr"}
        if i % 2:
            meta["date"] = f"{2000 + i % 25}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        yield f"c{i:06d}", " ".join(parts), meta


def five_word_queries(questions: list[str]) -> list[str]:
    """The first five content words (not French stop words) of each question that has five."""
    out = []
    for question in questions:
        words = [w for w in re.findall(r"[^\W_]+", question) if analyze(w, "fr")][:5]
        if len(words) == 5:
            out.append(" ".join(words))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(index: KeywordIndex, queries: list[str], runs: int, **filters) -> str:
    """Search p50 / p95 / max in ms, each the median over `runs` runs."""
    per_run = []
    for _ in range(runs):
        times = []
        for query in queries:
            t0 = time.perf_counter()
            index.search(query, 10, **filters)
            times.append((time.perf_counter() - t0) * 1000)
        per_run.append((statistics.median(times), percentile(times, 0.95), max(times)))
    p50, p95, top = (statistics.median(r[i] for r in per_run) for i in range(3))
    return f"p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  max {top:6.2f} ms"


def speed(args, docs: list[list[str]], questions: list[str]) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(0)
    queries = rng.sample(questions, 300)
    short = five_word_queries(queries)
    chunks = make_chunks(docs, sizes[-1], rng)
    runs = f"median of {args.runs} runs"
    with tempfile.TemporaryDirectory() as tmp, KeywordIndex(Path(tmp) / "keyword.sqlite3") as index:
        total_words, added, add_seconds = 0, 0, 0.0
        for size in sizes:
            while added < size:
                batch = [next(chunks) for _ in range(min(args.batch, size - added))]
                total_words += sum(len(text.split()) for _, text, _ in batch)
                t0 = time.perf_counter()
                index.add([c[0] for c in batch], [c[1] for c in batch], [c[2] for c in batch])
                add_seconds += time.perf_counter() - t0
                added += len(batch)
            words = total_words / added
            print(f"{size:>7} chunks ({words:.0f} words avg): add {added / add_seconds:.0f} chunks/s cumulative")
            print(f"  search k=10, {len(queries)} PIAF questions ({runs}):  {measure(index, queries, args.runs)}")
            print(f"  search k=10, {len(short)} 5-word queries ({runs}):   {measure(index, short, args.runs)}")
        mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        print(f"file size at {added} chunks: {mb:.0f} MiB (db + wal)")
        sources = [f"doc{i:05d}.txt" for i in range(0, added // 20, 7)][:50]
        print(f"  questions, 50 sources:        {measure(index, queries, args.runs, sources=sources)}")
        print(f"  questions, dates 2010..2015:  "
              f"{measure(index, queries, args.runs, date_from='2010', date_to='2015')}")
        _, text, meta = next(make_chunks(docs, 1, rng))
        t0 = time.perf_counter()
        for i in range(20):
            source = f"doc{i:05d}.txt"
            ids = [f"r{i}-{j}" for j in range(20)]
            index.replace_source(source, ids, [text] * 20, [dict(meta, source=source)] * 20)
        print(f"  replace_source (20 chunks):   {(time.perf_counter() - t0) / 20 * 1000:.1f} ms each")


# -- PIAF dev hit@5 of the fused retriever with each keyword backend ---------------------------
def hit5(args) -> None:
    from rag import RAG
    from rag.evaluate import evaluate, load_questions

    limit = None if args.questions == "all" else int(args.questions)
    questions = load_questions(args.docs, limit=limit, seed=0)
    with tempfile.TemporaryDirectory(prefix="keyword_bench_") as tmp:
        data = args.rag_data or Path(tmp) / "ingest"
        t0 = time.perf_counter()
        with RAG(data_dir=data) as rag:
            report = rag.ingest([args.docs / "docs"])
            assert not report.failed, report.failed
            print(f"\nPIAF dev docs in {data}: {rag.store.count()} chunks "
                  f"({len(report.added)} ingested now, {time.perf_counter() - t0:.0f} s)")
            r = evaluate(questions, rag.retrieve)
            s = rag.settings
            print(f"PIAF dev, {len(questions)} questions (seed 0), fused retriever RAG.retrieve "
                  f"({s.fusion}, candidates {s.candidates}), top 5: "
                  f"hit@1 {r['hit@1']:.4f}  hit@5 {r['hit@5']:.4f}  mrr@10 {r['mrr@10']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=SHARED, help="an eval set: docs/ and questions.jsonl")
    parser.add_argument("--sizes", default="1000,10000,100000", help="index sizes, '' for none")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="latency runs (medians are printed)")
    parser.add_argument("--hit5", action="store_true", help="also PIAF dev hit@5 of the fused retriever")
    parser.add_argument("--rag-data", type=Path, help="data dir holding (or to hold) the PIAF ingest")
    parser.add_argument("--questions", default="all", help="hit@5 sample size, or 'all'")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    one, five, fifteen = os.getloadavg()
    print(f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs")
    if args.sizes:
        docs = load_sentences(args.docs / "docs")
        questions = [json.loads(line)["question"] for line in (args.docs / "questions.jsonl").open(encoding="utf-8")]
        speed(args, docs, questions)
    if args.hit5:
        hit5(args)


if __name__ == "__main__":
    main()
