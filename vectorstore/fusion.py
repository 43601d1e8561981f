"""Reciprocal rank fusion of several rankings (e.g. dense and BM25 results)."""

from __future__ import annotations

import math


def reciprocal_rank_fusion(
    rankings: list[list[str]], *, k: int = 60, weights: list[float] | None = None
) -> list[tuple[str, float]]:
    """Fuse rankings (ids, best first) into (id, score) sorted by score, best first.

    score(id) = sum over rankings r of weights[r] / (k + rank of id in r), ranks from 1;
    an id repeated within one ranking counts at its best rank only. Scores are summed
    exactly (math.fsum), so equal rank profiles tie exactly; ties keep the order of first
    appearance, scanning the rankings in the order given.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    elif len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    contributions: dict[str, list[float]] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item not in seen:
                seen.add(item)
                contributions.setdefault(item, []).append(weight / (k + rank))
    fused = [(item, math.fsum(parts)) for item, parts in contributions.items()]
    fused.sort(key=lambda pair: -pair[1])  # stable: ties stay in first-appearance order
    return fused
