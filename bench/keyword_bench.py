"""Benchmark the BM25 keyword index: the hand-written SQL BM25 against SQLite FTS5's bm25().

Both backends index the same analysed terms (``textproc.analyze``) and are measured side by side:

1. Speed at 1k/10k/100k chunks: add throughput, search latency p50/p95 (k=10; the median of
   ``--runs`` runs, the two backends interleaved query by query so that both see the same load),
   with source and date filters, replace_source, file size.
2. ``--hit5``: PIAF dev hit@1/hit@5 of the fused retriever (``RAG.retrieve``, default settings)
   with each backend as its keyword side. The PIAF docs are ingested once (or ``--rag-data`` names
   a data dir that holds them); the other backend's index is filled from the same Chroma chunks
   (``RAG.repair``) and only the keyword side differs. Query embeddings are computed once.

Chunks are ~150-word windows of French Wikipedia paragraphs (PIAF eval docs), with
sentences mixed in from other documents so that no two chunks are alike; queries are the
real PIAF questions. The vocabulary is smaller than a real 100k-chunk corpus, so document
frequencies are higher and search is slower than it would be: figures are conservative.

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
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

from vectorstore import keyword, keyword_fts5
from vectorstore.textproc import analyze

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "piaf-fr-dev"
BACKENDS = {"current": keyword.KeywordIndex, "fts5": keyword_fts5.KeywordIndex}
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


def measure(indexes: dict, queries: list[str], runs: int, **filters) -> dict[str, tuple[float, float]]:
    """Backend -> (p50, p95) search ms, each the median over `runs` runs; per query the backends
    take turns going first, so neither is systematically the one that finds a warm cache."""
    per_run: dict[str, list[tuple[float, float]]] = {name: [] for name in indexes}
    names = list(indexes)
    for run in range(runs):
        times: dict[str, list[float]] = {name: [] for name in names}
        for i, query in enumerate(queries):
            order = names if (i + run) % 2 == 0 else names[::-1]
            for name in order:
                t0 = time.perf_counter()
                indexes[name].search(query, 10, **filters)
                times[name].append((time.perf_counter() - t0) * 1000)
        for name in names:
            per_run[name].append((statistics.median(times[name]), percentile(times[name], 0.95)))
    return {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
            for name, rs in per_run.items()}


def ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if b else "    -"


def print_row(label: str, got: dict[str, tuple[float, float]]) -> None:
    cells = "".join(f"  {p50:7.2f} {p95:7.2f}" for p50, p95 in got.values())
    if len(got) == 2:
        (a50, a95), (b50, b95) = got.values()
        cells += f"   {ratio(b50, a50)} {ratio(b95, a95)}"
    print(f"  {label:<34}{cells}")


def speed(args, docs: list[list[str]], questions: list[str], names: list[str]) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(0)
    queries = rng.sample(questions, 300)
    short = five_word_queries(queries)
    chunks = make_chunks(docs, sizes[-1], rng)
    head = "".join(f"  {name + ' p50':>7} {'p95':>7}" for name in names)
    if len(names) == 2:
        head += f"   {names[1] + '/' + names[0]:>13}"
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        indexes = {name: stack.enter_context(BACKENDS[name](Path(tmp) / name / "keyword.sqlite3")) for name in names}
        total_words, added = 0, 0
        add_seconds = dict.fromkeys(names, 0.0)
        for size in sizes:
            while added < size:
                batch = [next(chunks) for _ in range(min(args.batch, size - added))]
                total_words += sum(len(text.split()) for _, text, _ in batch)
                ids, texts, metas = ([c[i] for c in batch] for i in range(3))
                for name in names:
                    t0 = time.perf_counter()
                    indexes[name].add(ids, texts, metas)
                    add_seconds[name] += time.perf_counter() - t0
                added += len(batch)
            rates = ", ".join(f"{name} {added / add_seconds[name]:.0f}" for name in names)
            print(f"\n{size:>7} chunks ({total_words / added:.0f} words avg); add, chunks/s cumulative: {rates}")
            if len(names) == 2:
                print(f"  add throughput ratio {names[1]}/{names[0]}: "
                      f"{add_seconds[names[0]] / add_seconds[names[1]]:.2f}x")
            print(f"  search k=10, ms, median of {args.runs} runs {head}")
            print_row(f"{len(queries)} PIAF questions", measure(indexes, queries, args.runs))
            print_row(f"{len(short)} 5-word queries", measure(indexes, short, args.runs))
        sources = [f"doc{i:05d}.txt" for i in range(0, added // 20, 7)][:50]
        print_row("questions, 50 sources", measure(indexes, queries, args.runs, sources=sources))
        print_row("questions, dates 2010..2015", measure(indexes, queries, args.runs,
                                                         date_from="2010", date_to="2015"))
        for name in names:
            mb = sum(p.stat().st_size for p in (Path(tmp) / name).iterdir()) / 2**20
            print(f"  {name}: file size at {added} chunks {mb:.0f} MiB (db + wal)", end="")
            _, text, meta = next(make_chunks(docs, 1, random.Random(1)))
            t0 = time.perf_counter()
            for i in range(20):
                source = f"doc{i:05d}.txt"
                ids = [f"r{i}-{j}" for j in range(20)]
                indexes[name].replace_source(source, ids, [text] * 20, [dict(meta, source=source)] * 20)
            print(f"; replace_source (20 chunks) {(time.perf_counter() - t0) / 20 * 1000:.1f} ms each")


# -- PIAF dev hit@5 of the fused retriever with each keyword backend ---------------------------
class CachedQueries:
    """The embedder with query embeddings remembered: each question is embedded once for all
    backends (embed_query is deterministic, so results are unchanged)."""

    def __init__(self, embedder):
        self._embedder = embedder
        self._cache: dict[str, list[float]] = {}

    def embed_query(self, text: str) -> list[float]:
        if text not in self._cache:
            self._cache[text] = self._embedder.embed_query(text)
        return self._cache[text]

    def __getattr__(self, name):
        return getattr(self._embedder, name)


def hit5(args, names: list[str]) -> None:
    from rag import RAG
    from rag.evaluate import evaluate, load_questions
    from vectorstore import store

    limit = None if args.questions == "all" else int(args.questions)
    questions = load_questions(args.docs, limit=limit, seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="keyword_bench_"))
    try:
        data = args.rag_data or tmp / "ingest"
        t0 = time.perf_counter()
        base = RAG(data_dir=data)  # the backend vectorstore.store imports: the current one
        report = base.ingest([args.docs / "docs"])
        assert not report.failed, report.failed
        print(f"\nPIAF dev docs in {data}: {base.store.count()} chunks "
              f"({len(report.added)} ingested now, {time.perf_counter() - t0:.0f} s)")
        embedder = CachedQueries(base.embedder)
        results, fill = {}, {}
        for name in names:
            folder = tmp / name
            with mock.patch.object(store, "KeywordIndex", BACKENDS[name]):
                rag = RAG(data_dir=folder, embedder=embedder, client=base._client)
                t0 = time.perf_counter()
                rag.repair()  # keyword-index every chunk in Chroma, as `rag repair` does
                fill[name] = time.perf_counter() - t0
                assert rag.store.keyword.count() == base.store.count()
                results[name] = evaluate(questions, rag.retrieve)
                rag.close()
        base.close()
        print(f"\nPIAF dev, {len(questions)} questions (seed 0), fused retriever RAG.retrieve "
              f"(defaults: {base.settings.fusion}, candidates {base.settings.candidates}), top 5")
        print(f"  {'keyword backend':<18}{'hit@1':>8}{'hit@5':>8}{'mrr@10':>8}   index filled from Chroma")
        for name in names:
            r = results[name]
            print(f"  {name:<18}{r['hit@1']:8.4f}{r['hit@5']:8.4f}{r['mrr@10']:8.4f}   {fill[name]:.1f} s")
        if len(names) == 2:
            a, b = (results[n] for n in names)
            print(f"  {names[1]} - {names[0]} (points): hit@1 {100 * (b['hit@1'] - a['hit@1']):+.2f}, "
                  f"hit@5 {100 * (b['hit@5'] - a['hit@5']):+.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=SHARED, help="an eval set: docs/ and questions.jsonl")
    parser.add_argument("--sizes", default="1000,10000,100000", help="index sizes, '' for none")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="latency runs (medians are printed)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"of {', '.join(BACKENDS)}")
    parser.add_argument("--hit5", action="store_true", help="also PIAF dev hit@5 of the fused retriever")
    parser.add_argument("--rag-data", type=Path, help="data dir holding (or to hold) the PIAF ingest")
    parser.add_argument("--questions", default="all", help="hit@5 sample size, or 'all'")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    names = args.backends.split(",")
    one, five, fifteen = os.getloadavg()
    print(f"backends: {', '.join(f'{n} ({BACKENDS[n].__module__})' for n in names)}; "
          f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs")
    if args.sizes:
        docs = load_sentences(args.docs / "docs")
        questions = [json.loads(line)["question"] for line in (args.docs / "questions.jsonl").open(encoding="utf-8")]
        speed(args, docs, questions, names)
    if args.hit5:
        hit5(args, names)


if __name__ == "__main__":
    main()
