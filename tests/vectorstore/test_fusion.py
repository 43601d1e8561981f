import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vectorstore.fusion import reciprocal_rank_fusion

IDS = st.sampled_from([f"d{i}" for i in range(12)])
RANKINGS = st.lists(st.lists(IDS, max_size=10), max_size=4)


def test_hand_computed_scores_and_order():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    expected = {"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61}
    assert [item for item, _ in fused] == ["a", "c", "b"]
    for item, score in fused:
        assert score == pytest.approx(expected[item])


def test_weights_change_the_winner():
    rankings = [["dense"], ["bm25"]]
    assert reciprocal_rank_fusion(rankings)[0][0] == "dense"  # tie -> first appearance
    assert reciprocal_rank_fusion(rankings, weights=[1.0, 2.0])[0] == ("bm25", pytest.approx(2 / 61))


def test_small_k_sharpens_rank_differences():
    rankings = [["a", "b"], ["b", "c"], ["a"]]
    scores = dict(reciprocal_rank_fusion(rankings, k=0))
    assert scores == {"a": pytest.approx(2.0), "b": pytest.approx(1.5), "c": pytest.approx(0.5)}


def test_ties_keep_first_appearance_exactly():
    # Same rank profile in different orders: fsum makes the scores bit-identical.
    rankings = [["x", "y", "z"], ["y", "z", "x"], ["z", "x", "y"]]
    fused = reciprocal_rank_fusion(rankings)
    assert [item for item, _ in fused] == ["x", "y", "z"]
    assert fused[0][1] == fused[1][1] == fused[2][1]


def test_duplicates_within_a_ranking_count_once_at_best_rank():
    assert reciprocal_rank_fusion([["a", "b", "a"]]) == [("a", 1 / 61), ("b", 1 / 62)]


def test_empty_and_invalid_inputs():
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 1.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], k=-1)


@given(RANKINGS)
def test_covers_union_sorted_descending(rankings):
    fused = reciprocal_rank_fusion(rankings)
    items = [item for item, _ in fused]
    assert len(items) == len(set(items))
    assert set(items) == {item for ranking in rankings for item in ranking}
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)


@given(RANKINGS, st.randoms())
def test_scores_do_not_depend_on_ranking_order(rankings, rnd):
    shuffled = rankings[:]
    rnd.shuffle(shuffled)
    assert dict(reciprocal_rank_fusion(rankings)) == dict(reciprocal_rank_fusion(shuffled))


@given(st.lists(IDS, unique=True, max_size=10))
def test_single_ranking_keeps_its_order(ranking):
    assert [item for item, _ in reciprocal_rank_fusion([ranking])] == ranking


@given(RANKINGS, IDS)
def test_an_item_first_everywhere_wins(rankings, top):
    rankings = [[top] + [item for item in ranking if item != top] for ranking in rankings]
    fused = reciprocal_rank_fusion(rankings)
    assert not rankings or fused[0][0] == top


@given(RANKINGS, st.floats(min_value=0.1, max_value=10))
def test_uniform_weights_scale_scores(rankings, w):
    plain = dict(reciprocal_rank_fusion(rankings))
    weighted = dict(reciprocal_rank_fusion(rankings, weights=[w] * len(rankings)))
    assert weighted.keys() == plain.keys()
    assert all(math.isclose(weighted[item], w * plain[item]) for item in plain)


def test_convex_combination_normalises_each_list_and_weights_them():
    from vectorstore.fusion import convex_combination

    dense = [("a", 0.90), ("b", 0.80), ("c", 0.70)]
    keyword = [("c", 12.0), ("d", 6.0), ("a", 2.0)]
    fused = dict(convex_combination([dense, keyword]))
    assert fused == pytest.approx({"a": 1.0 + 0.0, "b": 0.5, "c": 0.0 + 1.0, "d": 0.4})
    ranked = [i for i, _ in convex_combination([dense, keyword], weights=[1.0, 2.0])]
    assert ranked == ["c", "a", "d", "b"]  # c: 0 + 2, a: 1 + 0, d: 0.8, b: 0.5


def test_convex_combination_floor_keeps_weak_scores_weak():
    from vectorstore.fusion import convex_combination

    dense = [("a", 0.90), ("b", 0.80), ("c", 0.70)]
    keyword = [("c", 12.0), ("d", 6.0), ("a", 2.0)]
    # BM25's 0 means no match: scores are divided by the best, not stretched from the worst
    fused = dict(convex_combination([dense, keyword], floors=[None, 0.0]))
    assert fused == pytest.approx({"a": 1.0 + 2 / 12, "b": 0.5, "c": 0.0 + 1.0, "d": 0.5})
    assert [i for i, _ in convex_combination([dense, keyword], floors=[None, 0.0])] == ["a", "c", "b", "d"]
    assert dict(convex_combination([[("x", 3.0), ("y", 3.0)]], floors=[0.0])) == {"x": 1.0, "y": 1.0}
    with pytest.raises(ValueError):
        convex_combination([dense, keyword], floors=[0.0])


def test_convex_combination_edge_cases():
    from vectorstore.fusion import convex_combination

    assert convex_combination([[], []]) == []
    assert convex_combination([[("x", 3.0), ("y", 3.0)], []]) == [("x", 1.0), ("y", 1.0)]
    assert convex_combination([[("x", 1.0), ("x", 0.0), ("y", 0.5)]]) == [("x", 1.0), ("y", 0.5)]
    with pytest.raises(ValueError):
        convex_combination([[("x", 1.0)]], weights=[1.0, 2.0])
