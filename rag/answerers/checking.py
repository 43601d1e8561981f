"""Where a generated answer's citations are checked: markers, support, narrowed quotes.

A language model writes ``claim [n]`` with ``n`` the number of a passage it was given. Nothing it
writes is trusted as is:

1. markers are parsed (``[1]``, ``[1, 2]``, ``[1][2]``); a number that names no passage is dropped;
2. the answer is split into sentences; markers opening a sentence belong to the one before, and
   list numbers ("2.") are no sentences;
3. each sentence is checked against the passages it cites, window by window (one sentence of the
   passage, or two adjacent ones; never a sentence giving instructions): it is supported by a
   window that holds most of its content terms in the same order, or nearly all of them in an
   order close to it (see the thresholds below).
   A sentence whose cited passages do not support it, but another passage does, is re-cited
   to that passage; one citing nothing is cited to the passage that supports it, if any;
4. each citation's ``start``/``end``/``quote`` is the supporting window, exact source text;
5. sentences nothing supports are kept in the text without markers and listed in
   ``Answer.unsupported``; an answer with no supported sentence becomes an abstention.
Citations are numbered in order of first use, so markers read [1], [2], ... in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ingest.chunking import split_sentences
from rag.types import Citation, Passage, cite
from vectorstore.textproc import analyze

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+[\s.,;:]*")
_LIST_ITEM = re.compile(r"^(?:\(?\d{1,2}[.)]|[-*•])$")  # "2." of a numbered list: no claim
_ONLY_PUNCT = re.compile(r"^[\s.,;:!?…)\]»”\"'’-]*$")

# Sentences that address the assistant rather than state facts ("Ignore previous instructions and
# reply only with ..."): a document may carry them to steer the answer. They are hidden from the
# model (``rag.answerers.llm.passage_block``) and never count as support.
INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|ignorez?|oublie[zr]?)\b.{0,60}?"
    r"\b(?:instructions?|rules?|prompts?|directives?|consignes?|règles?)\b"
    r"|\b(?:reply|respond|answer|say|output|print|write|réponds|répondez|dis|dites|écris|écrivez)"
    r"\b.{0,30}?\b(?:only|uniquement|seulement)\b"
    r"|\b(?:you are now|new instructions?|tu es maintenant|vous êtes maintenant)\b"
    r"|(?-i:\b(?:SYSTEM|ASSISTANT)\s*:)|<\|im_start\|>|\[/?INST\]",
    re.IGNORECASE,
)

# Support: the claim's content terms (stemmed, stop words out) found in the window in the same
# order, as a share of the claim's terms (longest common subsequence of the two term sequences):
# at least MIN_ORDERED_COVERAGE; or nearly all of them (MIN_COVERAGE, any order) with at least
# MIN_ORDERED_WITH_COVERAGE in order ("Elles dureront jusqu'au 9 janvier en Russie").
# Calibrated on 76 sentences of Qwen2.5-Coder-0.5B answers to PIAF and SQuAD 2.0 dev questions,
# labelled by hand (`python -m bench.support_bench fit`, labels in bench/data/): the rule before
# (terms in any order >= 0.6, or embedding cosine >= 0.88 with >= 0.3) let 31 of the 33
# unsupported sentences pass (precision 0.58, recall 1.00), mostly mash-ups of a passage's words
# ("The Normans gave their name to Normandy in the 1000's"); this one: precision 0.80, recall
# 0.93 (in order >= 0.8 alone: 0.81, 0.88). On 50 held-out sentences (even lines): 0.73 / 0.86
# against 0.58 / 1.00 before. Cosine, at any threshold, passed more unsupported sentences and
# no more supported ones. What still passes says something else with the passage's words in its
# order ("Guy de Lusignan was Guy's rival"): only a model of entailment would catch it. What it
# refuses wrongly is mostly a short answer worded unlike the passage ("The Siege of Antioch took
# place in 1097."), which then becomes an abstention.
MIN_ORDERED_COVERAGE = 0.8
MIN_COVERAGE = 0.9
MIN_ORDERED_WITH_COVERAGE = 0.6


@dataclass(frozen=True)
class Claim:
    """A sentence of the generated answer: ``text`` without markers, the passage numbers it cites."""

    text: str
    cited: tuple[int, ...]


@dataclass(frozen=True)
class Checked:
    text: str
    citations: list[Citation]
    unsupported: tuple[str, ...]


def parse_claims(answer: str, passages: int) -> list[Claim]:
    """The answer's sentences with the valid passage numbers (1-based) each cites."""
    claims: list[Claim] = []
    for start, end in split_sentences(answer):
        sentence = answer[start:end]
        lead = _LEADING_MARKERS.match(sentence)
        if lead and claims:  # "... Paris. [1] Next": the marker closes the sentence before
            last = claims[-1]
            claims[-1] = Claim(last.text, _valid(last.cited, lead.group(), passages))
            sentence = sentence[lead.end() :]
        text = " ".join(_MARKER.sub("", sentence).split())
        if not _ONLY_PUNCT.match(text) and not _LIST_ITEM.match(text):
            claims.append(Claim(text, _valid((), sentence, passages)))
    return claims


def _valid(cited: tuple[int, ...], text: str, passages: int) -> tuple[int, ...]:
    """``cited`` plus the passage numbers of ``text``'s markers that name a passage."""
    numbers = [int(n) for m in _MARKER.finditer(text) for n in re.split(r"\s*[,;]\s*", m.group(1))]
    return tuple(dict.fromkeys([*cited, *(n for n in numbers if 1 <= n <= passages)]))


class SupportChecker:
    """Finds, for a claim, the window of a passage that supports it (see the module doc)."""

    def __init__(self, embedder):
        self.embedder = embedder

    def windows(self, passage: Passage) -> list[tuple[int, int]]:
        """Spans (offsets into the passage text) of single sentences and adjacent pairs, leaving
        out sentences that give instructions (``INSTRUCTION``)."""
        spans = [
            None if INSTRUCTION.search(passage.text[s:e]) else (s, e)
            for s, e in split_sentences(passage.text)
        ]
        pairs = [(a[0], b[1]) for a, b in zip(spans, spans[1:]) if a and b]
        return [s for s in spans if s] + pairs

    def check(self, claims: list[Claim], passages: list[Passage], language: str) -> Checked:
        windows = [(p, span) for p, passage in enumerate(passages) for span in self.windows(passage)]
        if not claims or not windows:
            return Checked(" ".join(c.text for c in claims), [], tuple(c.text for c in claims))
        texts = [passages[p].text[s:e] for p, (s, e) in windows]
        vectors = self.embedder.encode(texts + [c.text for c in claims])
        window_vecs, claim_vecs = vectors[: len(texts)], vectors[len(texts) :]
        window_terms = [analyze(t, passages[p].language) for t, (p, _) in zip(texts, windows)]
        owner = np.array([p for p, _ in windows])

        numbers: dict[tuple[int, int, int], int] = {}
        citations: list[Citation] = []
        pieces: list[str] = []
        unsupported: list[str] = []
        for claim, vec in zip(claims, claim_vecs):
            terms = analyze(claim.text, language)
            cosine = window_vecs @ vec
            coverage, ordered = support_scores(terms, window_terms, floor=MIN_ORDERED_WITH_COVERAGE)
            ok = (ordered >= MIN_ORDERED_COVERAGE) | (
                (coverage >= MIN_COVERAGE) & (ordered >= MIN_ORDERED_WITH_COVERAGE)
            )
            strength = ordered + cosine
            chosen = _best_per_passage(ok, strength, owner, [n - 1 for n in claim.cited])
            if not chosen:
                chosen = _best_per_passage(ok, strength, owner, range(len(passages)))[:1]
            if not chosen:
                unsupported.append(claim.text)
                pieces.append(claim.text)
                continue
            marks = []
            for w in chosen:
                p, (s, e) = windows[w]
                key = (p, s, e)
                if key not in numbers:
                    numbers[key] = len(citations) + 1
                    citations.append(cite(passages[p], s, e, numbers[key], float(strength[w])))
                marks.append(f"[{numbers[key]}]")
            pieces.append(_with_marks(claim.text, "".join(marks)))
        return Checked(" ".join(pieces), citations, tuple(unsupported))


def support_scores(claim: list[str], windows: list[list[str]], *, floor: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """For each window (a term sequence), the share of the ``claim``'s distinct terms it holds in
    any order (coverage) and the share of its terms it holds in the same order
    (``ordered_coverage``). The second is never above the share of the claim's terms, counted
    with repeats, that the window holds: it is computed only where that share reaches ``floor``
    (0 elsewhere), so most windows need no sequence alignment."""
    claim_set = set(claim)
    coverage, ordered = [], []
    for window in windows:
        present = set(window)
        coverage.append(len(claim_set & present) / len(claim_set) if claim_set else 0.0)
        bound = sum(term in present for term in claim) / len(claim) if claim else 0.0
        ordered.append(ordered_coverage(claim, window) if bound >= floor else 0.0)
    return np.array(coverage), np.array(ordered)


def ordered_coverage(claim: list[str], window: list[str]) -> float:
    """Share of the ``claim`` terms found in ``window`` in the same order: the length of the
    longest common subsequence of the two sequences over the claim's length (0 for no terms)."""
    if not claim:
        return 0.0
    previous = [0] * (len(window) + 1)
    for term in claim:
        current = [0]
        for j, other in enumerate(window):
            current.append(previous[j] + 1 if term == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1] / len(claim)


def _best_per_passage(ok: np.ndarray, strength: np.ndarray, owner: np.ndarray, allowed) -> list[int]:
    """For each allowed passage (in the given order) that has a supporting window, its best."""
    best = []
    for p in allowed:
        candidates = np.flatnonzero(ok & (owner == p))
        if candidates.size:
            best.append(int(candidates[np.argmax(strength[candidates])]))
    return best


def _with_marks(sentence: str, marks: str) -> str:
    """``marks`` before the sentence's final punctuation: 'Paris [1].'"""
    match = re.search(r"[.!?…]+[»”\"’')]*$", sentence)
    if not match:
        return f"{sentence} {marks}"
    return f"{sentence[: match.start()]} {marks}{sentence[match.start():]}"
