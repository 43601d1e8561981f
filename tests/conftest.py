"""Test isolation: every test runs in its own tmp_path, with no model hub reachable.

Everything the tests read lives in ``tests/data`` (texts written for the project, see its
README), so a clone without ``../shared`` runs every test. Under ``CI=true`` a missing tool or
model (Chromium, llama.cpp, the GGUF model) fails the tests that need it; elsewhere it skips them."""

import importlib.util
import os
import time
from pathlib import Path
from typing import Callable, NoReturn

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).resolve().parent / "data"
NEWS_FR = DATA / "news-fr"  # one dated French article, in the shape of ../shared/corpus/news-fr
EVAL = DATA / "eval"  # question sets in the ../shared/eval format: villes-fr, harbours-en
IN_CI = os.environ.get("CI") == "true"


def missing(what: str) -> NoReturn:
    """A tool or model a test needs is not installed: skip it on a developer's machine, fail it
    under CI=true (where `make test` installs everything, so a skip would hide a broken setup)."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: a missing dependency is a failure, not a skip)", pytrace=False)
    pytest.skip(what)


def require_module(name: str, what: str) -> None:
    """Skip (fail under CI=true) unless ``name`` can be imported."""
    if importlib.util.find_spec(name) is None:
        missing(what)


def wait_until(condition: Callable[[], object], *, timeout: float = 60.0, what: str = "") -> None:
    """Poll ``condition`` until it holds. ``timeout`` only bounds a hang (it is no speed check):
    a test waits on what it needs instead of sleeping a fixed time and hoping it happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout:.0f} s: {what or condition}")
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run each test in tmp_path with RAG_* variables cleared, so nothing leaks between tests;
    its OCR cache is its own."""
    for key in list(os.environ):
        if key.startswith("RAG_") and key != "RAG_MODEL_CACHE_DIR":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAG_OCR_CACHE_DIR", str(tmp_path / "ocr-cache"))
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def site():
    """A web server on 127.0.0.1 serving the pages a test puts there (tests/site.py)."""
    from tests.site import Site

    served = Site()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()
