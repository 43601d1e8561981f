"""Test isolation: every test runs in its own tmp_path, with no model hub reachable."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run each test in tmp_path with RAG_* variables cleared, so nothing leaks between tests."""
    for key in list(os.environ):
        if key.startswith("RAG_") and key != "RAG_MODEL_CACHE_DIR":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED
