"""Test isolation: every test runs in its own tmp_path, with no model hub reachable.

Everything the tests read lives in ``tests/data`` (texts written for the project, see its
README), so a clone without ``../shared`` runs every test. Under ``CI=true`` a missing tool or
model (Chromium, llama.cpp, the GGUF model) fails the tests that need it; elsewhere it skips them."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).resolve().parent / "data"
NEWS_FR = DATA / "news-fr"  # one dated French article, in the shape of ../shared/corpus/news-fr
EVAL = DATA / "eval"  # question sets in the ../shared/eval format: villes-fr, harbours-en


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run each test in tmp_path with RAG_* variables cleared, so nothing leaks between tests."""
    for key in list(os.environ):
        if key.startswith("RAG_") and key != "RAG_MODEL_CACHE_DIR":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
