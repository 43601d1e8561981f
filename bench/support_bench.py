"""Calibrating the support check of LLM answers (``rag.answerers.checking``) on labelled claims.

The check decides, for each sentence ("claim") of a generated answer, whether a window of the
passages supports it. Its thresholds are fitted here, against claims read and labelled by hand:

1. ``generate``: Qwen2.5-Coder-0.5B, or -1.5B with ``--model 1.5b`` (fetched as in
   ``bench.llm_bench``), answers dev questions (PIAF and SQuAD 2.0, seed-drawn from the
   odd-numbered lines of ``questions.jsonl`` for calibration, or with ``--split even`` from the
   even ones, held out); each raw answer and the passages it was given go to
   ``bench/data/qwen_answers.jsonl`` (``qwen_answers_heldout.jsonl``; ``qwen15b_answers*.jsonl``
   for the 1.5B model) (a passage as its file and offsets: its text is read back from
   ``../shared/eval``). ~10 s an answer (0.5B) on 2 idle cores. Every other command takes
   ``--model`` and ``--split`` too.
2. ``claims``: every claim with the features of its best window, to label; the labels are
   ``bench/data/support_labels.jsonl`` (``support_labels_15b.jsonl`` for the 1.5B model), one
   line per claim: ``{"answer", "claim", "supported"}``,
   supported meaning that the passages given state what the sentence says (a sentence that
   only says the passages lack the answer counts as unsupported: it cites nothing).
3. ``fit``: precision and recall of "supported" against the labels, for the thresholds in force
   and for a grid of others.
4. ``report``: the benchmark's figures (as ``bench.llm_bench`` prints them) recomputed from the
   stored answers with the check in force: no model needed.

Run from the repository root:  python -m bench.support_bench generate|claims|fit|report
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ingest.language import detect_language
from rag.answerers import checking
from rag.answerers.checking import SupportChecker, parse_claims
from rag.answerers.llm import _is_abstention
from rag.types import Passage
from vectorstore.textproc import analyze

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
DATA = Path(__file__).resolve().parent / "data"
FILES = {"0.5b": ("qwen_answers", "support_labels"), "1.5b": ("qwen15b_answers", "support_labels_15b")}
"""Each model's stored answers and labels: ``bench/data/<answers>[_heldout].jsonl``, ``<labels>.jsonl``."""
SETS = {"piaf": "piaf-fr-dev", "squad": "squad2-en-dev"}


def answers_file(model: str, split: str) -> Path:
    return DATA / f"{FILES[model][0]}{'_heldout' if split == 'even' else ''}.jsonl"


def labels(model: str) -> dict[tuple[str, int], bool]:
    """(answer, claim) -> supported, as labelled by hand for ``model``'s answers."""
    return {(lab["answer"], lab["claim"]): lab["supported"] for lab in read_jsonl(DATA / f"{FILES[model][1]}.jsonl")}


def calibration_questions(name: str, n: int, split: str = "odd", seed: int = 1) -> list[dict]:
    """``n`` questions drawn from the odd-numbered lines of the set (calibration) or the even
    ones (held out), in file order."""
    with (EVAL / SETS[name] / "questions.jsonl").open(encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    part = lines[1::2] if split == "odd" else lines[0::2]
    keep = sorted(random.Random(seed).sample(range(len(part)), min(n, len(part))))
    return [part[i] for i in keep]


# -- 1. generate --------------------------------------------------------------------------
def generate(args) -> None:
    from bench.models import MODELS, fetch
    from rag import RAG
    from rag.factory import make_answerer
    from rag.settings import Settings
    from vectorstore.embeddings import SentenceTransformerEmbedder

    model = fetch(MODELS[args.model], args.cache)
    embedder = SentenceTransformerEmbedder()
    answerer = make_answerer(Settings(llm="llamacpp", llm_model=str(model), reader="none"), embedder)
    target = answers_file(args.model, args.split)
    done = {r["id"] for r in read_jsonl(target)}
    DATA.mkdir(exist_ok=True)
    for name, n in (("piaf", args.piaf), ("squad", args.squad)):
        folder = EVAL / SETS[name]
        rag = RAG(data_dir=args.data / name, embedder=embedder)
        rag.ingest([folder / "docs"])
        questions = [q for q in calibration_questions(name, n, args.split) if q["id"] not in done]
        for i, q in enumerate(questions, 1):
            passages = rag.retrieve(q["question"])
            language = detect_language(q["question"])
            messages, kept = answerer.prompt(q["question"], passages, language)
            t0 = time.perf_counter()
            raw = str(answerer.chat_model.invoke(messages).content) if kept else ""
            record = {
                "id": q["id"], "set": name, "question": q["question"], "answers": q["answers"],
                "impossible": q["impossible"], "language": language, "raw": raw,
                "seconds": round(time.perf_counter() - t0, 2),
                "passages": [_stored(p) for p in kept],
            }
            with target.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            print(f"\r  {name}: {i}/{len(questions)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        rag.close()


def _stored(p: Passage) -> dict:
    out = asdict(p)
    out.pop("text")
    out["source"] = Path(p.source).name
    return out


def load_answers(model: str = "0.5b", split: str = "odd") -> list[dict]:
    """The stored answers, each passage's text read back from the eval docs by its offsets."""
    texts: dict[str, str] = {}
    records = read_jsonl(answers_file(model, split))
    for r in records:
        folder = EVAL / SETS[r["set"]] / "docs"
        passages = []
        for p in r["passages"]:
            path = folder / p["source"]
            text = texts.setdefault(str(path), path.read_text(encoding="utf-8"))
            passages.append(Passage(**{**p, "source": str(path), "text": text[p["start"] : p["end"]]}))
        r["passages"] = passages
    return records


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# -- 2. claims and their features -----------------------------------------------------------
def claim_features(records: list[dict], embedder) -> list[dict]:
    """Each claim of each answer with, for every window of its answer's passages, the share of
    its terms found there in any order (``coverage``), in the same order (``ordered``, what the
    check uses) and the embedding cosine; and the best window (by ordered + cosine, as the check
    ranks windows) to show."""
    checker = SupportChecker(embedder)
    rows = []
    for r in records:
        if _is_abstention(r["raw"]):  # never checked: the answer abstains as it is
            continue
        claims = parse_claims(r["raw"], len(r["passages"]))
        windows = [(p, span) for p, passage in enumerate(r["passages"]) for span in checker.windows(passage)]
        if not claims or not windows:
            continue
        texts = [r["passages"][p].text[s:e] for p, (s, e) in windows]
        vectors = embedder.encode(texts + [c.text for c in claims])
        window_vecs, claim_vecs = vectors[: len(texts)], vectors[len(texts) :]
        window_terms = [analyze(t, r["passages"][p].language) for t, (p, _) in zip(texts, windows)]
        for index, (claim, vec) in enumerate(zip(claims, claim_vecs)):
            terms = analyze(claim.text, r["language"])
            cosine = window_vecs @ vec
            coverage, ordered = checking.support_scores(terms, window_terms)
            best = int(np.argmax(ordered + cosine))
            rows.append({
                "answer": r["id"], "claim": index, "text": claim.text, "cited": list(claim.cited),
                "window": texts[best], "passage": windows[best][0] + 1,
                "ordered": float(ordered[best]), "coverage": float(coverage[best]),
                "cosine": float(cosine[best]),
                "question": r["question"], "gold": r["answers"], "impossible": r["impossible"],
                "windows": {"coverage": coverage, "ordered": ordered, "cosine": cosine},
            })
    return rows


def show_claims(args) -> None:
    from vectorstore.embeddings import SentenceTransformerEmbedder

    labels_of = labels(args.model)
    for row in claim_features(load_answers(args.model, args.split), SentenceTransformerEmbedder()):
        if args.unlabelled and (row["answer"], row["claim"]) in labels_of:
            continue
        shown = {k: v for k, v in row.items() if k != "windows"}
        print(json.dumps({**shown, "label": labels_of.get((row["answer"], row["claim"]))}, ensure_ascii=False))


# -- 3. fit ---------------------------------------------------------------------------------
RULES = {
    "the check: ordered >= t, or coverage >= 0.9 and ordered >= 0.6":
        lambda w, t: (w["ordered"] >= t) | ((w["coverage"] >= 0.9) & (w["ordered"] >= 0.6)),
    "ordered >= t": lambda w, t: w["ordered"] >= t,
    "coverage >= t (any order)": lambda w, t: w["coverage"] >= t,
    "ordered >= t or cosine >= 0.97": lambda w, t: (w["ordered"] >= t) | (w["cosine"] >= 0.97),
    "before: coverage >= t or (cosine >= 0.88 and coverage >= 0.3)":
        lambda w, t: (w["coverage"] >= t) | ((w["cosine"] >= 0.88) & (w["coverage"] >= 0.3)),
}


def fit(args) -> None:
    from vectorstore.embeddings import SentenceTransformerEmbedder

    labels_of = labels(args.model)
    rows, seen = [], set()
    for r in claim_features(load_answers(args.model, args.split), SentenceTransformerEmbedder()):
        if (r["answer"], r["claim"]) in labels_of and (r["answer"], r["text"]) not in seen:
            seen.add((r["answer"], r["text"]))  # a sentence a looping model repeats counts once
            rows.append(r)
    truth = np.array([labels_of[(r["answer"], r["claim"])] for r in rows])
    print(f"{len(rows)} labelled claims: {truth.sum()} supported, {len(truth) - truth.sum()} not; "
          f"a claim is supported when some window of its answer's passages passes the rule")
    print(f"in force: ordered coverage >= {checking.MIN_ORDERED_COVERAGE}, or coverage >= "
          f"{checking.MIN_COVERAGE} and ordered >= {checking.MIN_ORDERED_WITH_COVERAGE}")
    for name, rule in RULES.items():
        print(f"  {name}")
        for t in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0):
            said = np.array([bool(np.any(rule(r["windows"], t))) for r in rows])
            tp, fp = int((said & truth).sum()), int((said & ~truth).sum())
            fn = int((~said & truth).sum())
            print(f"    t={t:<5} precision {tp / (tp + fp) if tp + fp else 1:.3f}  recall {tp / (tp + fn):.3f}"
                  f"  (unsupported passed {fp}, supported refused {fn})")


# -- 4. report ------------------------------------------------------------------------------
def report(args) -> None:
    from bench.llm_bench import new_stats, rates, tally
    from rag.answerers.llm import LLMAnswerer
    from vectorstore.embeddings import SentenceTransformerEmbedder

    answerer = LLMAnswerer(None, SentenceTransformerEmbedder(), count_tokens=len,
                           context_tokens=0, max_answer_tokens=0)
    for name, folder in SETS.items():
        records = [r for r in load_answers(args.model, args.split) if r["set"] == name]
        if not records:
            continue
        s = new_stats()
        answerable = sum(not r["impossible"] for r in records)
        impossible = len(records) - answerable
        for r in records:
            tally(s, r, answerer.finish(r["question"], r["raw"], r["passages"], r["language"]))
        names = ("contains", "cit.prec", "unsupp.", "abst.P", "abst.R", "answered")
        print(f"{folder}: {len(records)} stored answers ({answerable} answerable, {impossible} impossible)  "
              + "  ".join(f"{n} {v}" for n, v in zip(names, rates(s, answerable, impossible))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="answer dev questions with Qwen and store the raw answers")
    g.add_argument("--piaf", type=int, default=40)
    g.add_argument("--squad", type=int, default=40)
    g.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "rag-cite" / "bench")
    g.add_argument("--data", type=Path, default=Path.home() / ".cache" / "rag-cite" / "support-bench")
    c = sub.add_parser("claims", help="print the claims with their features (JSON lines)")
    c.add_argument("--unlabelled", action="store_true", help="only claims without a label")
    f = sub.add_parser("fit", help="precision/recall of the check against the labels")
    r = sub.add_parser("report", help="the benchmark's figures from the stored answers")
    for command in (g, c, f, r):
        command.add_argument("--model", choices=sorted(FILES), default="0.5b",
                             help="whose answers: Qwen2.5-Coder-0.5B's (default) or -1.5B's")
        command.add_argument("--split", choices=["odd", "even"], default="odd",
                             help="odd lines: the calibration answers; even: the held-out ones")
    args = parser.parse_args()
    {"generate": generate, "claims": show_claims, "fit": fit, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
