"""Benchmark the extractive answerer on the development evaluation sets.

Passages come from a small dense retriever written here: each document of a set is split into
paragraphs (blank-line separated, title line left out), embedded once, and the top 5 paragraphs
by cosine similarity are handed to the answerer. Figures: SQuAD 2.0 dev (English, all questions,
many unanswerable), a fixed sample of PIAF dev (French), and the same PIAF sample with the gold
article left out of the passages, where every question should be abstained on.

Run from the repository root:  python -m bench.answer_bench [--eval DIR] [--piaf-sample 300]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

from ingest.language import detect_language
from rag.answerers import ExtractiveAnswerer
from rag.evaluate import evaluate, load_questions
from rag.types import Passage
from vectorstore.embeddings import SentenceTransformerEmbedder

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
_PARAGRAPH = re.compile(r"\S(?:.*\S)?(?:\n[ \t]*\S.*)*")  # lines up to a blank line


def paragraphs(path: Path) -> list[Passage]:
    """The document's paragraphs after its title line, with offsets into the file's text."""
    text = path.read_text(encoding="utf-8")
    title = text.split("\n", 1)[0].strip()
    language = detect_language(text)
    spans = [m.span() for m in _PARAGRAPH.finditer(text)][1:]
    return [
        Passage(text=text[s:e], source=str(path), title=title, date=None, page=None,
                start=s, end=e, score=0.0, id=f"{path.name}:{s}", language=language)
        for s, e in spans
    ]


class DenseRetriever:
    """Top-k paragraphs of a set's documents by embedding similarity."""

    def __init__(self, embedder: SentenceTransformerEmbedder, docs: Path):
        self.embedder = embedder
        self.passages = [p for path in sorted(docs.glob("*.txt")) for p in paragraphs(path)]
        self.sources = np.array([Path(p.source).name for p in self.passages])
        self.vectors = embedder.encode([p.text for p in self.passages])

    def retrieve(self, question: str, k: int = 5, exclude_source: str | None = None) -> list[Passage]:
        scores = self.vectors @ self.embedder.encode([question], query=True)[0]
        if exclude_source is not None:
            scores = np.where(self.sources == exclude_source, -np.inf, scores)
        top = np.argsort(-scores)[:k]
        return [_with_score(self.passages[i], float(scores[i])) for i in top]


def _with_score(passage: Passage, score: float) -> Passage:
    return Passage(**{**passage.__dict__, "score": score})


ROWS = [
    ("hit@1", "hit@1"), ("hit@5", "hit@5"), ("mrr@10", "mrr@10"),
    ("answer contains gold", "answer_contains_gold"), ("answered rate", "answered_rate"),
    ("citation precision", "citation_precision"), ("abstention recall", "abstention_recall"),
    ("abstention precision", "abstention_precision"), ("latency p50 (s)", "latency_p50"),
    ("latency p95 (s)", "latency_p95"), ("questions", "questions"), ("impossible", "impossible"),
]


def table(columns: dict[str, dict]) -> str:
    width = max(len(name) for name in columns) + 2
    lines = [f"{'':24}" + "".join(f"{name:>{width}}" for name in columns)]
    for label, key in ROWS:
        cells = [columns[name].get(key) for name in columns]
        lines.append(f"{label:24}" + "".join(
            f"{'-':>{width}}" if v is None else f"{v:>{width}}" if isinstance(v, int) else f"{v:>{width}.3f}"
            for v in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=EVAL, help="folder holding the eval sets")
    parser.add_argument("--piaf-sample", type=int, default=300)
    parser.add_argument("--max-sentences", type=int, default=2)
    args = parser.parse_args()

    embedder = SentenceTransformerEmbedder()
    answerer = ExtractiveAnswerer(embedder, max_sentences=args.max_sentences)
    columns = {}
    started = time.perf_counter()

    squad = DenseRetriever(embedder, args.eval / "squad2-en-dev" / "docs")
    columns["squad2-en (all)"] = evaluate(
        load_questions(args.eval / "squad2-en-dev"), squad.retrieve, answerer.answer)

    piaf = DenseRetriever(embedder, args.eval / "piaf-fr-dev" / "docs")
    sample = load_questions(args.eval / "piaf-fr-dev", limit=args.piaf_sample, seed=0)
    columns[f"piaf-fr ({len(sample)})"] = evaluate(sample, piaf.retrieve, answerer.answer)

    # Gold article left out: every question becomes unanswerable from the passages given.
    by_text = {q["question"]: q["source"] for q in sample}
    left_out = [{**q, "answers": [], "impossible": True} for q in sample]
    columns["piaf-fr gold left out"] = evaluate(
        left_out, lambda q: piaf.retrieve(q, exclude_source=by_text[q]), answerer.answer)

    print(table(columns))
    print(f"\n(max_sentences={args.max_sentences}; {time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
