"""The helpers of tests/conftest.py: what a missing tool does under CI=true and elsewhere, and
waiting on a condition."""

import itertools

import pytest

import tests.conftest as support


@pytest.mark.parametrize("ci, outcome", [(True, pytest.fail.Exception), (False, pytest.skip.Exception)])
def test_a_missing_tool_fails_under_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setattr(support, "IN_CI", ci)
    with pytest.raises(outcome, match="chromium is not installed"):
        support.missing("chromium is not installed")
    with pytest.raises(outcome, match="no such module"):
        support.require_module("a_module_that_is_not_installed", "no such module")
    support.require_module("pytest", "pytest is missing")  # present: nothing happens


def test_wait_until_returns_once_the_condition_holds():
    calls = itertools.count(1)
    support.wait_until(lambda: next(calls) >= 3)
    assert next(calls) == 4


def test_wait_until_names_what_never_happened():
    with pytest.raises(AssertionError, match="still not true after 0 s: the index follows"):
        support.wait_until(lambda: False, timeout=0.05, what="the index follows")
