"""The documentation stays true to the code: the settings page is generated from the settings
class."""

from __future__ import annotations

import tomllib
from pathlib import Path

from rag.settings import TOML_EXAMPLE, Settings, markdown

ROOT = Path(__file__).resolve().parent.parent


def test_settings_page_is_current():
    page = ROOT / "docs" / "settings.md"
    assert page.exists(), "docs/settings.md is missing: run `python -m rag.settings > docs/settings.md`"
    assert page.read_text(encoding="utf-8") == markdown(), (
        "docs/settings.md is stale (rag/settings.py changed): run "
        "`python -m rag.settings > docs/settings.md` and commit the result"
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
