"""The documentation stays true to the code: the settings page is generated from the settings
class, and every link, anchor and repository path the pages name exists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from rag.settings import TOML_EXAMPLE, Settings, markdown

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REGENERATE = "python -m rag.settings > docs/settings.md"

# [text](target) and ![alt](target), outside code
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# `rag/answerers/checking.py`, `ingest/loaders/`: a path inside one of the project's folders
_PATH = re.compile(r"`((?:rag|ingest|vectorstore|ui|bench|tests|docs)/[\w./-]*)`")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")


def test_settings_page_is_current():
    page = ROOT / "docs" / "settings.md"
    assert page.exists(), f"docs/settings.md is missing: run `{REGENERATE}`"
    assert page.read_text(encoding="utf-8") == markdown(), (
        f"docs/settings.md is stale (rag/settings.py changed): run `{REGENERATE}` and commit it"
    )


def test_settings_page_names_every_setting():
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"| `{name}` | `RAG_{name.upper()}` |" in text


def test_toml_example_is_valid(tmp_path, monkeypatch):
    path = tmp_path / "rag.toml"
    path.write_text(TOML_EXAMPLE, encoding="utf-8")
    for name in Settings.model_fields:
        monkeypatch.delenv(f"RAG_{name.upper()}", raising=False)
    monkeypatch.setenv("RAG_CONFIG", str(path))
    settings = Settings()
    for key, value in tomllib.loads(TOML_EXAMPLE).items():
        assert getattr(settings, key) == (Path(value) if key == "data_dir" else value)


def _prose(page: Path) -> str:
    """The page without its code blocks (examples name made-up files)."""
    return _FENCE.sub("", page.read_text(encoding="utf-8"))


def _links(page: Path) -> list[str]:
    """Relative link targets of ``page`` (not URLs), with their ``#anchor`` if any."""
    return [t for t in _LINK.findall(_CODE.sub("", _prose(page)))
            if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def _anchors(page: Path) -> set[str]:
    """GitHub's ids of the headings of ``page``: lower case, punctuation dropped, spaces -> '-'."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", _prose(page), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_exist(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} has links to no file or heading: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_paths_exist(page):
    missing = sorted({p for p in _PATH.findall(_prose(page)) if not (ROOT / p).exists()})
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_readme_is_a_front_door():
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines < 150, f"README.md has {lines} lines; keep it under 150: details belong in docs/"
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in _links(ROOT / "README.md")}
    unlinked = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"README.md does not link to {unlinked}"
