"""Benchmark the BM25 keyword index: add throughput and search latency at 1k/10k/100k chunks.

Chunks are ~150-word windows of French Wikipedia paragraphs (PIAF eval docs), with
sentences mixed in from other documents so that no two chunks are alike; queries are the
real PIAF questions. The vocabulary is smaller than a real 100k-chunk corpus, so document
frequencies are higher and search is slower than it would be: figures are conservative.

Run from the repository root:  python -m bench.keyword_bench [--docs DIR] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
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


def measure(index: KeywordIndex, queries: list[str], **filters) -> str:
    times = []
    for query in queries:
        t0 = time.perf_counter()
        index.search(query, 10, **filters)
        times.append((time.perf_counter() - t0) * 1000)
    return f"p50 {statistics.median(times):6.2f} ms  p95 {percentile(times, 0.95):6.2f} ms  max {max(times):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=SHARED)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(0)
    docs = load_sentences(args.docs / "docs")
    questions = [json.loads(line)["question"] for line in (args.docs / "questions.jsonl").open(encoding="utf-8")]
    queries = rng.sample(questions, 300)
    short = five_word_queries(queries)
    chunks = make_chunks(docs, sizes[-1], rng)
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
            print(f"  search k=10, {len(queries)} PIAF questions:   {measure(index, queries)}")
            print(f"  search k=10, {len(short)} 5-word queries:    {measure(index, short)}")
        mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        print(f"file size at {added} chunks: {mb:.0f} MiB (db + wal)")
        sources = [f"doc{i:05d}.txt" for i in range(0, added // 20, 7)][:50]
        print(f"  questions, 50 sources:        {measure(index, queries, sources=sources)}")
        print(f"  questions, dates 2010..2015:  {measure(index, queries, date_from='2010', date_to='2015')}")
        _, text, meta = next(make_chunks(docs, 1, rng))
        t0 = time.perf_counter()
        for i in range(20):
            source = f"doc{i:05d}.txt"
            ids = [f"r{i}-{j}" for j in range(20)]
            index.replace_source(source, ids, [text] * 20, [dict(meta, source=source)] * 20)
        print(f"  replace_source (20 chunks):   {(time.perf_counter() - t0) / 20 * 1000:.1f} ms each")


if __name__ == "__main__":
    main()
