"""Core benchmark: retrieval quality, abstention, ingest cost and latency of ``rag.RAG``.

Printed side by side in one run:

1. Retrieval on PIAF dev (French), hit@1 / hit@5 of the top 5 passages: ours (``RAG`` with its
   default settings, dense + BM25 fused) against the tutorial LangChain pipeline with the same
   embedder (``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`` + a Chroma
   collection, cosine, dense only, E5 query/passage prompts); ours dense-only and keyword-only.
2. Answers with ``RAG.ask`` (the extractive answerer): abstention recall on SQuAD 2.0 dev's
   impossible questions, answered rate on its answerable ones; PIAF answer-contains-gold.
3. Ingest: ``RAG.ingest`` of the PIAF docs into a fresh data dir against encoding, with the bare
   model, exactly the texts the ingest embedded (each stored chunk with its document's title,
   ``contextual_text``); re-ingesting the unchanged corpus.
4. Warm ``rag.retrieve`` p50 against the floor (one query embedding + one Chroma query of the
   same k); ``import rag`` time in a fresh interpreter.

One SentenceTransformerEmbedder is shared by everything (the model loads once); data dirs live in
a temporary folder. The machine may be shared: the load average is printed, timings are medians.

Run from the repository root:  python -m bench.core_bench [--questions 500|all]
Extra experiments:  --sweep (retrieval settings on the same index),
                    --chunking 300/60,400/80 (re-ingest with other chunk sizes / overlaps).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from rag.evaluate import evaluate, load_questions
from rag.types import Passage

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
TARGETS = {"hit@5": 0.92, "ingest_ratio": 1.15, "reingest_speedup": 50.0, "latency_ratio": 1.5,
           "import_s": 0.5}


# -- small helpers ---------------------------------------------------------------------------
def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return load()


def fmt(v, width: int = 9, digits: int = 3) -> str:
    if v is None:
        return f"{'-':>{width}}"
    if isinstance(v, str):
        return f"{v:>{width}}"
    if isinstance(v, int):
        return f"{v:>{width}}"
    return f"{v:>{width}.{digits}f}"


def table(columns: dict[str, dict], rows: list[str], width: int = 14) -> str:
    label = max(len(r) for r in rows) + 2
    lines = [" " * label + "".join(f"{c:>{width}}" for c in columns)]
    for r in rows:
        lines.append(f"{r:<{label}}" + "".join(fmt(col.get(r), width) for col in columns.values()))
    return "\n".join(lines)


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


@contextmanager
def timed_calls(obj, names: list[str], totals: dict[str, float]):
    """Accumulate the wall time spent in ``obj.<name>`` (instance attributes, restored after)."""
    for name in names:
        original = getattr(obj, name)

        def wrapper(*a, _original=original, _name=name, **kw):
            t0 = time.perf_counter()
            try:
                return _original(*a, **kw)
            finally:
                totals[_name] = totals.get(_name, 0.0) + time.perf_counter() - t0

        setattr(obj, name, wrapper)
    try:
        yield totals
    finally:
        for name in names:
            try:
                delattr(obj, name)
            except AttributeError:
                pass


class CachedQueries:
    """The shared embedder with query embeddings remembered: used only by the --sweep and
    --chunking experiments, where the same questions are embedded many times."""

    def __init__(self, embedder):
        self._embedder = embedder
        self._cache: dict[str, list[float]] = {}

    def embed_query(self, text: str) -> list[float]:
        if text not in self._cache:
            self._cache[text] = self._embedder.embed_query(text)
        return self._cache[text]

    def encode(self, texts: list[str], *, query: bool = False):
        if not query:
            return self._embedder.encode(texts)
        import numpy as np

        return np.array([self.embed_query(t) for t in texts], dtype=np.float32)

    def __getattr__(self, name):
        return getattr(self._embedder, name)


def stored_chunks(store) -> list[tuple[str, int, str]]:
    """(source, chunk_index, embedded text) of every chunk in the store, in document order: the
    text the ingest embedded, i.e. the chunk with its document's title (``contextual_text``)."""
    from vectorstore.records import contextual_text

    out = []
    for source, doc in sorted(store.documents().items()):
        out.extend((source, c.index, contextual_text(c)) for c in store.chunks(source, doc.doc_hash))
    out.sort(key=lambda x: (x[0], x[1]))
    return out


# -- 1. the tutorial LangChain pipeline ------------------------------------------------------
class LangChainTutorial:
    """RecursiveCharacterTextSplitter(1000, 200) + a cosine Chroma collection, dense only."""

    def __init__(self, embedder, docs: Path, folder: Path):
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.embedder = embedder
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        t0 = time.perf_counter()
        chunks = []
        for path in sorted(docs.glob("*.txt")):
            chunks.extend(splitter.create_documents([path.read_text(encoding="utf-8")],
                                                     metadatas=[{"source": str(path)}]))
        texts = [c.page_content for c in chunks]
        vectors = embedder.encode(texts)
        client = chromadb.PersistentClient(path=str(folder), settings=ChromaSettings(anonymized_telemetry=False))
        self.collection = client.get_or_create_collection(
            "tutorial", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
        step = 2000
        for s in range(0, len(texts), step):
            self.collection.add(
                ids=[f"c{i}" for i in range(s, min(s + step, len(texts)))],
                embeddings=vectors[s : s + step].tolist(), documents=texts[s : s + step],
                metadatas=[{"source": c.metadata["source"], "start": c.metadata["start_index"]}
                           for c in chunks[s : s + step]],
            )
        self.build_s = time.perf_counter() - t0
        self.chunks = len(texts)
        self.mean_chars = statistics.mean(len(t) for t in texts)
        self.mean_tokens = statistics.mean(embedder.count_tokens(texts))

    def embed_query(self, question: str) -> list[float]:
        return self.embedder.encode([question], query=True)[0].tolist()

    def retrieve(self, question: str, k: int = 5) -> list[Passage]:
        q = self.embed_query(question)
        res = self.collection.query(query_embeddings=[q], n_results=k,
                                    include=["documents", "metadatas", "distances"])
        return [
            Passage(text=d, source=m["source"], title=None, date=None, page=None, start=m["start"],
                    end=m["start"] + len(d), score=1 - dist, id=i)
            for i, d, m, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0],
                                     res["distances"][0])
        ]


# -- the parts -------------------------------------------------------------------------------
def ingest_run(RAG, embedder, docs: Path, folder: Path, *, bare: bool = True, **settings) -> dict:
    """Fresh ingest, the bare-model floor on the same chunk texts, then an unchanged re-ingest.
    Without ``bare``, the floor is the time spent inside ``embedder.encode`` during the ingest
    (the same texts, batched as the indexer batches them): cheaper, a little kinder to ingest."""
    rag = RAG(data_dir=folder, embedder=embedder, **settings)
    gc.collect()
    totals: dict[str, float] = {}
    t0 = time.perf_counter()
    with timed_calls(embedder, ["encode", "count_tokens"], totals):
        store = rag.store
        t_store = time.perf_counter() - t0
        with timed_calls(store, ["add", "commit"], totals):
            report = rag.ingest([docs])
    ingest_s = time.perf_counter() - t0
    assert not report.failed, report.failed
    chunks = stored_chunks(rag.store)
    assert len(chunks) == report.chunks, (len(chunks), report.chunks)
    texts = [t for _, _, t in chunks]
    gc.collect()
    t0 = time.perf_counter()
    if bare:
        embedder.encode(texts)
        bare_s = time.perf_counter() - t0
    else:
        bare_s = totals.get("encode", 0.0)
    t0 = time.perf_counter()
    again = rag.ingest([docs])
    reingest_s = time.perf_counter() - t0
    assert not again.added and not again.updated and len(again.unchanged) == len(report.added)
    tokens = embedder.count_tokens(texts)
    return {
        "rag": rag, "docs": len(report.added), "chunks": report.chunks,
        "mean_tokens": statistics.mean(tokens), "max_tokens": max(tokens),
        "mean_chars": statistics.mean(len(t) for t in texts),
        "ingest_s": ingest_s, "bare_s": bare_s, "ratio": ingest_s / bare_s,
        "encode_in_ingest_s": totals.get("encode", 0.0), "count_tokens_s": totals.get("count_tokens", 0.0),
        "store_write_s": totals.get("add", 0.0) + totals.get("commit", 0.0), "open_store_s": t_store,
        "reingest_s": reingest_s, "speedup": ingest_s / reingest_s,
    }


def hit_row(result: dict) -> dict:
    return {k: result[k] for k in ("hit@1", "hit@5")}


def latency(rag, embedder, questions: list[dict]) -> dict:
    """Warm retrieve vs floor, interleaved per question so both see the same machine load. The
    floor embeds in a thread of its own: the embedder remembers each thread's last question (for
    the answerer, which embeds it after the retrieval), and neither side may use the other's."""
    from concurrent.futures import ThreadPoolExecutor

    own = ThreadPoolExecutor(1)
    k = rag.settings.k
    collection = rag.store.collection
    for q in questions[:3]:  # warm both paths
        rag.retrieve(q["question"])
        collection.query(query_embeddings=[embedder.encode([q["question"]], query=True)[0].tolist()],
                         n_results=k, include=["documents", "metadatas", "distances"])
    n = max(rag.settings.candidates, k)
    ours, floor, embed, dense_n, keyword = [], [], [], [], []
    for q in questions:
        text = q["question"]
        t0 = time.perf_counter()
        vector = own.submit(embedder.encode, [text], query=True).result()[0].tolist()
        t1 = time.perf_counter()
        collection.query(query_embeddings=[vector], n_results=k,
                         include=["documents", "metadatas", "distances"])
        t2 = time.perf_counter()
        rag.retrieve(text)
        t3 = time.perf_counter()
        collection.query(query_embeddings=[vector], n_results=n,
                         include=["documents", "metadatas", "distances"])
        t4 = time.perf_counter()
        rag.store.keyword.search(text, n)
        t5 = time.perf_counter()
        embed.append(t1 - t0)
        floor.append(t2 - t0)
        ours.append(t3 - t2)
        dense_n.append(t4 - t3)
        keyword.append(t5 - t4)
    p50 = statistics.median
    return {"n": len(questions), "ours_ms": p50(ours) * 1e3, "floor_ms": p50(floor) * 1e3,
            "embed_ms": p50(embed) * 1e3, "ratio": p50(ours) / p50(floor),
            "candidates": n, "dense_n_ms": p50(dense_n) * 1e3, "keyword_ms": p50(keyword) * 1e3}


def import_time(statement: str = "import rag", runs: int = 5) -> list[float]:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    root = Path(__file__).resolve().parents[1]
    out = []
    for _ in range(runs):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                             check=True)
        out.append(float(res.stdout.strip()))
    return out


def answers(RAG, embedder, eval_dir: Path, folder: Path, piaf_rag, piaf_sample: list[dict]) -> dict:
    squad = RAG(data_dir=folder, embedder=embedder)
    squad.ingest([eval_dir / "squad2-en-dev" / "docs"])
    # evaluate() times retrieve + ask apart; RAG.ask(q) without history is exactly
    # answerer.answer(q, retrieve(q)) (standalone_question returns q unchanged).
    squad_q = load_questions(eval_dir / "squad2-en-dev")
    out = {"squad": evaluate(squad_q, squad.retrieve, squad.answerer.answer)}
    squad.close()
    if piaf_sample:
        out["piaf"] = evaluate(piaf_sample, piaf_rag.retrieve, piaf_rag.answerer.answer)
    return out


def answer_row(r: dict) -> dict:
    row = {"questions": r["questions"], "answerable": r["answerable"], "impossible": r["impossible"],
           "abstention_recall": r["abstention_recall"], "abstention_precision": r["abstention_precision"],
           "answered_rate": r["answered_rate"], "contains_gold (all)": r["answer_contains_gold"],
           "citation_precision": r["citation_precision"], "hit@5": r["hit@5"],
           "latency_p50 (s)": r["latency_p50"]}
    if r["answered_rate"]:
        row["contains_gold (answered)"] = r["answer_contains_gold"] / r["answered_rate"]
    return row


# -- main ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=EVAL, help="folder holding the eval sets")
    parser.add_argument("--questions", default="500", help="PIAF retrieval sample size, or 'all'")
    parser.add_argument("--answer-questions", type=int, default=100,
                        help="PIAF questions answered with RAG.ask (0: skip)")
    parser.add_argument("--latency-questions", type=int, default=50)
    parser.add_argument("--sweep", action="store_true",
                        help="also try other retrieval settings on the same index")
    parser.add_argument("--chunking", default="",
                        help="comma-separated TOKENS/OVERLAP to re-ingest and evaluate, e.g. 300/60")
    parser.add_argument("--skip-answers", action="store_true", help="leave out part 2 (the slowest)")
    parser.add_argument("--only-chunking", action="store_true",
                        help="run only the --chunking experiments (no default index, parts 1-4 left out)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dirs")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    piaf_dir = args.eval / "piaf-fr-dev"
    docs = piaf_dir / "docs"
    limit = None if args.questions == "all" else int(args.questions)
    questions = load_questions(piaf_dir, limit=limit, seed=0)
    started = time.perf_counter()
    print(f"start: {uptime()}")

    import chromadb  # noqa: F401  (imported before any timing, for both pipelines alike)

    from rag import RAG
    from vectorstore.embeddings import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.encode(["échauffement du modèle"] * 8)
    embedder.identity
    print(f"model loaded in {time.perf_counter() - started:.1f} s: {embedder.model_name}, "
          f"query prompt {embedder.query_prompt!r}, passage prompt {embedder.document_prompt!r}, "
          f"{embedder.identity.max_tokens} max tokens, {embedder.backend} backend, "
          f"{embedder.threads} threads")
    tmp = Path(tempfile.mkdtemp(prefix="core_bench_"))
    if args.only_chunking:
        try:
            chunking(RAG, embedder, docs, tmp, questions, args.chunking or "200/40", CachedQueries(embedder))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"\nend: {uptime()}  ({time.perf_counter() - started:.0f} s in all)")
        return
    try:
        # 3. ingest first: the index it builds serves everything else.
        ing = ingest_run(RAG, embedder, docs, tmp / "ours")
        ours = ing["rag"]
        s = ours.settings
        print(f"ingest done ({time.perf_counter() - started:.0f} s; {load()})")
        print(f"\n== 3. Ingest, PIAF dev: {ing['docs']} docs, {ing['chunks']} chunks ==")
        print(f"RAG.ingest, fresh data dir      {ing['ingest_s']:8.1f} s   (open store {ing['open_store_s']:.1f} s, "
              f"encode {ing['encode_in_ingest_s']:.1f} s, count_tokens {ing['count_tokens_s']:.1f} s, "
              f"store writes {ing['store_write_s']:.1f} s)")
        print(f"bare embedder.encode(chunk texts) {ing['bare_s']:6.1f} s")
        print(f"ratio ingest / bare             {ing['ratio']:8.2f}    target <= {TARGETS['ingest_ratio']}: "
              f"{mark(ing['ratio'] <= TARGETS['ingest_ratio'])}")
        print(f"re-ingest unchanged corpus      {ing['reingest_s']:8.2f} s   first / re-ingest "
              f"{ing['speedup']:.0f}x, target >= {TARGETS['reingest_speedup']:.0f}x: "
              f"{mark(ing['speedup'] >= TARGETS['reingest_speedup'])}")

        # 1. retrieval
        variants = {
            "ours hybrid": ours,
            "ours dense": RAG(data_dir=s.data_dir, embedder=embedder, client=ours._client, keyword_weight=0),
            "ours keyword": RAG(data_dir=s.data_dir, embedder=embedder, client=ours._client, dense_weight=0),
        }
        # Quality only (no timing here): each question is embedded once and the vector reused
        # by every variant; embed_query == encode([q], query=True)[0], so results are unchanged.
        cached = CachedQueries(embedder)
        for r in variants.values():
            r._embedder = cached
        retrieval = {name: evaluate(questions, r.retrieve) for name, r in variants.items()}
        ours._embedder = embedder
        lc = LangChainTutorial(embedder, docs, tmp / "langchain")
        lc.embed_query = cached.embed_query
        retrieval["LangChain tut."] = evaluate(questions, lc.retrieve)
        print(f"retrieval done ({time.perf_counter() - started:.0f} s; {load()})")
        print(f"\n== 1. Retrieval, PIAF dev: {len(questions)} questions (seed 0), top {s.k} ==")
        print(f"ours: chunk_tokens={s.chunk_tokens} overlap={s.chunk_overlap_tokens} candidates={s.candidates} "
              f"fusion={s.fusion} fusion_k={s.fusion_k} weights dense={s.dense_weight} keyword={s.keyword_weight}; "
              f"{ing['chunks']} chunks, mean {ing['mean_tokens']:.0f} tokens / {ing['mean_chars']:.0f} chars")
        print(f"LangChain tutorial: RecursiveCharacterTextSplitter(1000, 200) + Chroma cosine, dense, same "
              f"embedder; {lc.chunks} chunks, mean {lc.mean_tokens:.0f} tokens / {lc.mean_chars:.0f} chars; "
              f"built in {lc.build_s:.1f} s")
        print(table({n: hit_row(r) for n, r in retrieval.items()}, ["hit@1", "hit@5"], width=16))
        hit5 = retrieval["ours hybrid"]["hit@5"]
        print(f"ours hybrid hit@5 {hit5:.3f} vs target >= {TARGETS['hit@5']}: {mark(hit5 >= TARGETS['hit@5'])}; "
              f"vs LangChain tutorial {hit5 - retrieval['LangChain tut.']['hit@5']:+.3f}")

        # 4. latency + import
        lat = latency(ours, embedder, load_questions(piaf_dir, limit=args.latency_questions, seed=1))
        imports = import_time()
        imports_api = import_time("from rag import RAG")
        print(f"\n== 4. Latency: warm rag.retrieve over {lat['n']} PIAF questions (seed 1), k={s.k} ==")
        print(f"rag.retrieve p50 {lat['ours_ms']:.1f} ms; floor (query embedding + one Chroma query, "
              f"n_results={s.k}) p50 {lat['floor_ms']:.1f} ms, of which embedding {lat['embed_ms']:.1f} ms")
        print(f"  parts of ours (p50, apart): Chroma query n_results={lat['candidates']} "
              f"{lat['dense_n_ms']:.1f} ms, BM25 search {lat['keyword_ms']:.1f} ms")
        print(f"ratio {lat['ratio']:.2f}, target <= {TARGETS['latency_ratio']}: "
              f"{mark(lat['ratio'] <= TARGETS['latency_ratio'])}")
        med = statistics.median(imports)
        print(f"import rag (fresh interpreter, 5 runs): median {med:.3f} s "
              f"[{', '.join(f'{t:.3f}' for t in imports)}], target < {TARGETS['import_s']} s: "
              f"{mark(med < TARGETS['import_s'])}")
        print(f"from rag import RAG (same): median {statistics.median(imports_api):.3f} s "
              f"[{', '.join(f'{t:.3f}' for t in imports_api)}]")

        if args.sweep:
            sweep(RAG, embedder, ours, questions, cached)

        # 2. answers (the slowest part: every sentence of the 5 passages is embedded)
        if not args.skip_answers:
            piaf_answer_q = (load_questions(piaf_dir, limit=args.answer_questions, seed=0)
                             if args.answer_questions else [])
            ans = answers(RAG, embedder, args.eval, tmp / "squad", ours, piaf_answer_q)
            print(f"answers done ({time.perf_counter() - started:.0f} s; {load()})")
            print("\n== 2. Answers with RAG.ask (extractive) ==")
            columns = {"squad2-en (all)": answer_row(ans["squad"])}
            if "piaf" in ans:
                columns[f"piaf-fr ({len(piaf_answer_q)})"] = answer_row(ans["piaf"])
            rows = list(dict.fromkeys(r for c in columns.values() for r in c))
            print(table(columns, rows, width=17))

        if args.chunking:
            chunking(RAG, embedder, docs, tmp, questions, args.chunking, cached)
        ours.close()
    finally:
        if args.keep:
            print(f"\ndata dirs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nend: {uptime()}  ({time.perf_counter() - started:.0f} s in all)")


SWEEP = [
    {},
    {"fusion": "rrf"},
    {"fusion": "rrf", "fusion_k": 20},
    {"candidates": 30},
    {"candidates": 100},
    {"dense_weight": 1.0, "keyword_weight": 0.7},
    {"dense_weight": 1.0, "keyword_weight": 1.5},
    {"candidates": 50, "keyword_weight": 1.5},
    {"dense_weight": 1.0, "keyword_weight": 0.5},
]


def sweep(RAG, embedder, ours, questions: list[dict], cached) -> None:
    """Retrieval settings on the same index (no re-ingest); query embeddings cached."""
    print(f"\n== Sweep: retrieval settings on the default index, {len(questions)} questions ==")
    for extra in SWEEP:
        r = RAG(data_dir=ours.settings.data_dir, embedder=cached, client=ours._client, **extra)
        res = evaluate(questions, r.retrieve)
        name = ", ".join(f"{k}={v}" for k, v in extra.items()) or "defaults"
        print(f"  {name:<40} hit@1 {res['hit@1']:.3f}  hit@5 {res['hit@5']:.3f}")


def chunking(RAG, embedder, docs: Path, tmp: Path, questions: list[dict], spec: str, cached) -> None:
    """Re-ingest with other chunk sizes / overlaps: hit@5 (hybrid, dense) and ingest cost."""
    print(f"\n== Chunking: re-ingest and evaluate, {len(questions)} questions ==")
    for item in spec.split(","):
        tokens, overlap = (int(x) for x in item.split("/"))
        folder = tmp / f"chunk_{tokens}_{overlap}"
        ing = ingest_run(RAG, embedder, docs, folder, bare=False, chunk_tokens=tokens,
                         chunk_overlap_tokens=overlap)
        rag = ing["rag"]
        hybrid = evaluate(questions, RAG(data_dir=folder, embedder=cached, client=rag._client,
                                         chunk_tokens=tokens, chunk_overlap_tokens=overlap).retrieve)
        dense = evaluate(questions, RAG(data_dir=folder, embedder=cached, client=rag._client,
                                        chunk_tokens=tokens, chunk_overlap_tokens=overlap,
                                        keyword_weight=0).retrieve)
        print(f"  {tokens}/{overlap}: {ing['chunks']} chunks (mean {ing['mean_tokens']:.0f} tok); "
              f"hit@5 hybrid {hybrid['hit@5']:.3f} dense {dense['hit@5']:.3f}; ingest {ing['ingest_s']:.1f} s "
              f"vs encode inside it {ing['bare_s']:.1f} s = {ing['ratio']:.2f}; re-ingest {ing['speedup']:.0f}x; {load()}")
        rag.close()


if __name__ == "__main__":
    main()
