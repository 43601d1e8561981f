"""Extractive answers: the retrieved sentences that answer the question, each cited, or abstention.

Every sentence of the retrieved passages is scored against the question with the embedder
(question as a query, sentences as documents) plus the share of the question's analysed terms it
holds. The best sentence (and the next best, when nearly as good) is the answer; it is given only
when a two-feature logistic model on the best sentence says it probably answers the question.

The constants were fitted with the dev sets of ../shared/eval (see bench/answer_bench.py for the
retrieval used: paragraphs, dense top 5): SQuAD 2.0 dev (208 questions) and a 400-question PIAF
dev sample (seed 1, not the bench's sample), plus 200 of those PIAF questions with the gold
article left out of the passages. Question-word cues (when -> date, how many -> number, who ->
name) and the passage's rank were tried as ranking features and moved the share of
best sentences holding the answer by less than 0.01-0.02 (SQuAD 0.81, PIAF 0.54): not used.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ingest.chunking import split_sentences
from ingest.language import detect_language
from rag.types import Answer, Citation, Passage, cite
from vectorstore.embeddings import Embedder
from vectorstore.textproc import analyze, fold_accents

from .base import Answerer, abstain

# Sentence ranking: score = dense + W_LEXICAL * lexical, where dense is the cosine of question and
# sentence and lexical the share of the question's terms in the sentence. 0.05-0.2 raise the best
# sentences holding the answer from 0.77 to 0.81 (SQuAD) and 0.51 to 0.54 (PIAF); 0.1 is mid-way.
W_LEXICAL = 0.10

# Abstention: P(answers) = sigmoid(B0 + B_DENSE * dense + B_LEXICAL * lexical) of the best
# sentence; sklearn LogisticRegression (C=100) on PIAF answerable (1) vs gold-left-out (0) and
# SQuAD answerable (1). SQuAD's unanswerable questions are not separable with these features
# (ROC AUC 0.54 for dense, 0.52 for lexical): they are left out of the fit, and only a reader
# model could catch them. At P >= 0.5: PIAF answered 0.90, gold left out abstained 0.70, SQuAD
# answerable answered 1.00, SQuAD unanswerable abstained 0.10.
B0 = -39.4
B_DENSE = 45.5
B_LEXICAL = 4.8

MIN_WORDS = 3  # shorter "sentences" (titles, captions) are not answers


@dataclass(frozen=True)
class Candidate:
    """A sentence of ``passages[passage]`` at ``text[start:end]`` (offsets into the passage text)."""

    passage: int
    sentence: int
    start: int
    end: int
    dense: float
    lexical: float
    score: float


class ExtractiveAnswerer(Answerer):
    """Answers with sentences copied from the passages (no language model)."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 2,
        second_margin: float = 0.03,
        min_confidence: float = 0.5,
        cache_size: int = 4096,
    ):
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.second_margin = second_margin
        self.min_confidence = min_confidence
        self.cache_size = cache_size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    # -- scoring ---------------------------------------------------------------------------
    def candidates(self, question: str, passages: list[Passage]) -> list[Candidate]:
        """Every sentence of the passages with its features, best first."""
        spans = [
            (p_index, s_index, start, end)
            for p_index, passage in enumerate(passages)
            for s_index, (start, end) in enumerate(split_sentences(passage.text))
            if len(passage.text[start:end].split()) >= MIN_WORDS
        ]
        if not spans or not question.strip():
            return []
        texts = [passages[p].text[start:end] for p, _, start, end in spans]
        query_vector = self.embedder.encode([question], query=True)[0]
        dense = self._encode_sentences(texts) @ query_vector
        q_terms = set(analyze(question, detect_language(question)))
        out = []
        for (p, s, start, end), text, sim in zip(spans, texts, dense):
            lexical = _coverage(q_terms, set(analyze(text, passages[p].language)))
            score = float(sim) + W_LEXICAL * lexical
            out.append(Candidate(p, s, start, end, float(sim), lexical, score))
        out.sort(key=lambda c: -c.score)
        return out

    def _encode_sentences(self, texts: list[str]) -> np.ndarray:
        """Sentence vectors, remembered for the ``cache_size`` most recently used sentences
        (the same passages come back for many questions)."""
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in known:
                self._vectors.move_to_end(t)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known |= dict(zip(missing, self.embedder.encode(missing)))
            with self._lock:
                self._vectors.update((t, known[t]) for t in missing)
                while len(self._vectors) > self.cache_size:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])

    @staticmethod
    def confidence(best: Candidate) -> float:
        """Probability that the best sentence answers the question."""
        z = B0 + B_DENSE * best.dense + B_LEXICAL * best.lexical
        return 1.0 / (1.0 + math.exp(-z))

    def select(self, question: str, passages: list[Passage]) -> list[Candidate]:
        """The sentences of the answer, best first; empty to abstain."""
        ranked = self.candidates(question, passages)
        if not ranked or self.confidence(ranked[0]) < self.min_confidence:
            return []
        chosen = [ranked[0]]
        for other in ranked[1:]:
            if len(chosen) == self.max_sentences or other.score < ranked[0].score - self.second_margin:
                break
            if not any(_squash(_text(passages, other)) == _squash(_text(passages, c)) for c in chosen):
                chosen.append(other)
        return chosen

    # -- answering -------------------------------------------------------------------------
    def stream(self, question: str, passages: list[Passage]) -> Iterator[str | Answer]:
        """Each cited piece of the answer (``"sentence [n]"``), then the ``Answer``."""
        chosen = self.select(question, passages)
        if not chosen:
            yield from abstain(question)
            return
        pieces, citations = [], []
        for group in _groups(chosen):
            citation = _cite(passages, group, len(citations) + 1)
            citations.append(citation)
            piece = f"{citation.quote} [{citation.number}]"
            yield piece if not pieces else " " + piece
            pieces.append(piece)
        yield Answer(text=" ".join(pieces), citations=citations, abstained=False, query=question)


def _coverage(question_terms: set[str], text_terms: set[str]) -> float:
    """Share of the question's terms found in the text (1.0 for a question with no terms)."""
    if not question_terms:
        return 1.0
    return len(question_terms & text_terms) / len(question_terms)


def _squash(text: str) -> str:
    """The text with case, accents and spacing ignored: repeated sentences are given once."""
    return " ".join(fold_accents(unicodedata.normalize("NFKC", text)).lower().split())


def _text(passages: list[Passage], c: Candidate) -> str:
    return passages[c.passage].text[c.start : c.end]


def _groups(chosen: list[Candidate]) -> list[list[Candidate]]:
    """Chosen sentences in answer order; a sentence next to one already chosen from the same
    passage joins its group (in text order), so the two read and are cited as one."""
    groups: list[list[Candidate]] = []
    for c in chosen:
        for group in groups:
            if group[0].passage == c.passage and (
                c.sentence == group[-1].sentence + 1 or c.sentence == group[0].sentence - 1
            ):
                group.append(c)
                group.sort(key=lambda x: x.sentence)
                break
        else:
            groups.append([c])
    return groups


def _cite(passages: list[Passage], group: list[Candidate], number: int) -> Citation:
    passage = passages[group[0].passage]
    return cite(passage, group[0].start, group[-1].end, number, max(c.score for c in group))
