import json

import pytest

from rag.evaluate import contains_gold, evaluate, is_hit, load_questions, normalize, percentile
from rag.types import Answer, Citation, Passage
from tests.conftest import EVAL


def passage(text: str, source: str) -> Passage:
    return Passage(text=text, source=source, title=None, date=None, page=None,
                   start=0, end=len(text), score=1.0)


def citation(number: int, quote: str) -> Citation:
    return Citation(number=number, source="a.txt", title=None, date=None, page=None,
                    start=0, end=len(quote), quote=quote, score=1.0)


QUESTIONS = [
    {"id": "1", "question": "capital?", "answers": ["Paris"], "source": "a.txt", "impossible": False},
    {"id": "2", "question": "when?", "answers": ["1066", "in 1066"], "source": "b.txt", "impossible": False},
    {"id": "3", "question": "who?", "answers": ["Rollo"], "source": "c.txt", "impossible": False},
    {"id": "4", "question": "moon?", "answers": [], "source": "a.txt", "impossible": True},
    {"id": "5", "question": "mars?", "answers": [], "source": "a.txt", "impossible": True},
]

PASSAGES = {
    "capital?": [passage("nothing here", "docs/a.txt"), passage("The capital is\n  PARIS.", "docs/a.txt")],
    "when?": [passage("It happened in 1066.", "/data/b.txt"), passage("Paris", "a.txt")],
    "who?": [passage("Rollo was a Viking.", "other.txt")],  # right text, wrong source
    "moon?": [passage("nothing", "a.txt")],
    "mars?": [],
}

ANSWERS = {
    "capital?": Answer("The capital is Paris [1]. Elsewhere [2].",
                       [citation(1, "The capital is Paris"), citation(2, "Elsewhere")]),
    "when?": Answer("Not known.", [], abstained=True),
    "who?": Answer("Rollo was a Viking [1].", [citation(1, "Rollo was a Viking")]),
    "moon?": Answer("Not known.", [], abstained=True),
    "mars?": Answer("Mars is red [1].", [citation(1, "Mars is red")]),
}


def test_normalize_nfkc_case_and_spaces():
    assert normalize("  Le\u00a0\u00a0ﬁlm\n\tÉTÉ ") == "le film été"
    assert contains_gold("Il est né en\u202f1066 à Caen", ["NÉ EN 1066"])
    assert not contains_gold("anything", [])
    assert not contains_gold("anything", [""])


def test_hit_needs_source_file_name_and_gold():
    question = QUESTIONS[0]
    assert is_hit(passage("the capital is PARIS", "/x/y/a.txt"), question)
    assert not is_hit(passage("the capital is PARIS", "/x/y/b.txt"), question)
    assert not is_hit(passage("the capital is Rome", "a.txt"), question)


def test_evaluate_exact_figures():
    calls = []
    result = evaluate(QUESTIONS, PASSAGES.__getitem__, lambda q, ps: ANSWERS[q],
                      progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]
    assert result["questions"] == 5
    assert result["answerable"] == 3
    assert result["impossible"] == 2
    # Ranks of the first hit: 2, 1, none.
    assert result["hit@1"] == pytest.approx(1 / 3)
    assert result["hit@5"] == pytest.approx(2 / 3)
    assert result["mrr@10"] == pytest.approx((1 / 2 + 1) / 3)
    # Answerable: 1 and 3 answered and hold the gold, 2 abstained.
    assert result["answer_contains_gold"] == pytest.approx(2 / 3)
    assert result["answered_rate"] == pytest.approx(2 / 3)
    # Citations of answerable questions: "The capital is Paris" yes, "Elsewhere" no, "Rollo..." yes.
    assert result["citations"] == 3
    assert result["citation_precision"] == pytest.approx(2 / 3)
    # Impossible: 4 abstained, 5 answered; abstentions: questions 2 and 4.
    assert result["abstention_recall"] == pytest.approx(1 / 2)
    assert result["abstention_precision"] == pytest.approx(1 / 2)
    assert result["abstentions"] == 2
    assert 0 <= result["latency_p50"] <= result["latency_p95"]


def test_evaluate_retrieval_only_and_empty_rates():
    result = evaluate(QUESTIONS[:1], PASSAGES.__getitem__)
    assert result["hit@1"] == 0.0
    assert result["hit@5"] == 1.0
    assert result["mrr@10"] == 0.5
    assert "answer_contains_gold" not in result
    impossible_only = evaluate(QUESTIONS[3:4], PASSAGES.__getitem__, lambda q, ps: ANSWERS[q])
    assert impossible_only["hit@1"] is None
    assert impossible_only["answer_contains_gold"] is None
    assert impossible_only["citation_precision"] is None
    assert impossible_only["abstention_recall"] == 1.0
    assert impossible_only["abstention_precision"] == 1.0


def test_mrr_counts_only_top_ten():
    question = {**QUESTIONS[0]}
    ranked = [passage("no", "a.txt")] * 10 + [passage("Paris", "a.txt")]
    assert evaluate([question], lambda q: ranked)["mrr@10"] == 0.0
    assert evaluate([question], lambda q: ranked[1:])["mrr@10"] == pytest.approx(1 / 10)


def test_percentile_interpolates():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([float(i) for i in range(1, 22)], 95) == pytest.approx(20.0)


def test_load_questions_limit_is_deterministic_and_in_file_order(tmp_path):
    lines = [{"id": str(i), "question": f"q{i}", "answers": ["a"], "source": "s.txt",
              "impossible": False} for i in range(50)]
    (tmp_path / "questions.jsonl").write_text(
        "\n".join(json.dumps(q) for q in lines) + "\n\n", encoding="utf-8")
    assert load_questions(tmp_path) == lines
    sample = load_questions(tmp_path, limit=10)
    assert len(sample) == 10
    assert sample == load_questions(tmp_path, limit=10)
    assert [int(q["id"]) for q in sample] == sorted(int(q["id"]) for q in sample)
    assert sample != load_questions(tmp_path, limit=10, seed=1)
    assert load_questions(tmp_path, limit=100) == lines


def test_load_questions_from_the_test_sets():
    english = load_questions(EVAL / "harbours-en")
    assert len(english) == 10 and sum(q["impossible"] for q in english) == 3
    french = load_questions(EVAL / "villes-fr")
    assert len(french) == 27 and sum(q["impossible"] for q in french) == 3
    assert len(load_questions(EVAL / "villes-fr", limit=12)) == 12


@pytest.mark.parametrize("folder", ["villes-fr", "harbours-en"])
def test_test_sets_are_well_formed(folder):
    """What the format promises: each question names a file of docs/; an answerable one has gold
    answers found in its context, and the context is a paragraph of that file; an impossible one
    has none."""
    questions = load_questions(EVAL / folder)
    assert len({q["id"] for q in questions}) == len(questions)
    for q in questions:
        assert set(q) == {"id", "question", "answers", "source", "impossible", "context"}
        text = (EVAL / folder / "docs" / q["source"]).read_text(encoding="utf-8")
        assert q["context"] in [p.strip() for p in text.split("\n\n")], q["id"]
        if q["impossible"]:
            assert q["answers"] == [], q["id"]
        else:
            assert q["answers"] and contains_gold(q["context"], q["answers"]), q["id"]
