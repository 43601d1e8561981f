"""Retrieval and answer metrics over an evaluation set (the ``../shared/eval`` format).

A set is a folder with ``docs/`` and ``questions.jsonl``, one question a line::

    {"id", "question", "answers": [...], "source": "<file name in docs/>", "impossible": bool}

A retrieved passage is a *hit* when it comes from the question's ``source`` file and contains one
of its ``answers``, both compared after Unicode NFKC, lower-casing and collapsing white space.
"""

from __future__ import annotations

import json
import random
import re
import time
import unicodedata
from pathlib import Path
from typing import Callable

from rag.types import Answer, Passage

Retrieve = Callable[[str], list[Passage]]
Ask = Callable[[str, list[Passage]], Answer]
Progress = Callable[[int, int], None]

_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, lower case, white space collapsed to single spaces and stripped."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def load_questions(directory: str | Path, *, limit: int | None = None, seed: int = 0) -> list[dict]:
    """The questions of ``directory/questions.jsonl``; with ``limit``, a sample of that many
    drawn with ``seed`` (the same every time), kept in file order."""
    path = Path(directory) / "questions.jsonl"
    with path.open(encoding="utf-8") as f:
        questions = [json.loads(line) for line in f if line.strip()]
    if limit is not None and limit < len(questions):
        keep = sorted(random.Random(seed).sample(range(len(questions)), limit))
        questions = [questions[i] for i in keep]
    return questions


def contains_gold(text: str, answers: list[str]) -> bool:
    """Whether ``text`` holds one of the (non-empty) gold ``answers``, after normalisation."""
    haystack = normalize(text)
    return any(gold and gold in haystack for gold in (normalize(a) for a in answers))


def is_hit(passage: Passage, question: dict) -> bool:
    """The passage comes from the question's source file and contains a gold answer."""
    return Path(passage.source).name == question["source"] and contains_gold(
        passage.text, question["answers"]
    )


def evaluate(
    questions: list[dict],
    retrieve: Retrieve,
    ask: Ask | None = None,
    *,
    progress: Progress | None = None,
) -> dict:
    """Metrics of ``retrieve`` (and ``ask``, when given) over ``questions``.

    Retrieval (answerable questions): ``hit@1``, ``hit@5``, ``mrr@10``.
    Answers: ``answer_contains_gold`` and ``answered_rate`` over answerable questions;
    ``citation_precision``, the share of the citations given to answerable questions whose quote
    holds a gold answer; ``abstention_recall`` (impossible questions abstained / impossible
    questions) and ``abstention_precision`` (impossible questions abstained / abstentions).
    ``latency_p50`` / ``latency_p95``: seconds of retrieve + ask per question.
    A rate with nothing to count (e.g. no impossible question) is None.
    """
    ranks: list[int | None] = []
    latencies: list[float] = []
    contains = answered = cited = cited_gold = 0
    abstained_impossible = abstained_answerable = 0
    answerable = sum(not q.get("impossible") for q in questions)
    impossible = len(questions) - answerable
    for done, question in enumerate(questions, 1):
        started = time.perf_counter()
        passages = retrieve(question["question"])
        answer = ask(question["question"], passages) if ask else None
        latencies.append(time.perf_counter() - started)
        if not question.get("impossible"):
            ranks.append(next((i for i, p in enumerate(passages[:10], 1) if is_hit(p, question)), None))
        if answer is not None:
            if question.get("impossible"):
                abstained_impossible += answer.abstained
            elif answer.abstained:
                abstained_answerable += 1
            else:
                answered += 1
                contains += contains_gold(answer.text, question["answers"])
                cited += len(answer.citations)
                cited_gold += sum(contains_gold(c.quote, question["answers"]) for c in answer.citations)
        if progress:
            progress(done, len(questions))
    result: dict = {
        "questions": len(questions),
        "answerable": answerable,
        "impossible": impossible,
        "hit@1": _rate(sum(r == 1 for r in ranks), len(ranks)),
        "hit@5": _rate(sum(r is not None and r <= 5 for r in ranks), len(ranks)),
        "mrr@10": _rate(sum(1 / r for r in ranks if r is not None), len(ranks)),
        "latency_p50": percentile(latencies, 50),
        "latency_p95": percentile(latencies, 95),
    }
    if ask is not None:
        abstentions = abstained_impossible + abstained_answerable
        result |= {
            "answer_contains_gold": _rate(contains, answerable),
            "answered_rate": _rate(answered, answerable),
            "citation_precision": _rate(cited_gold, cited),
            "abstention_recall": _rate(abstained_impossible, impossible),
            "abstention_precision": _rate(abstained_impossible, abstentions),
            "abstentions": abstentions,
            "citations": cited,
        }
    return result


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rate(count: float, total: int) -> float | None:
    return count / total if total else None
