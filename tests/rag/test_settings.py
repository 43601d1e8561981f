"""Settings precedence: constructor > RAG_* environment > rag.toml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.settings import Settings, describe


def test_defaults():
    s = Settings()
    assert s.data_dir == Path("rag_data") and s.embedding_model == "multilingual-e5-small"
    assert s.llm == "extractive" and s.k == 5


def test_constructor_beats_env_beats_toml(tmp_path, monkeypatch):
    (tmp_path / "rag.toml").write_text('k = 7\nchunk_tokens = 300\ndata_dir = "from_toml"\n')
    assert Settings().k == 7 and Settings().chunk_tokens == 300
    monkeypatch.setenv("RAG_K", "9")
    assert Settings().k == 9 and Settings().chunk_tokens == 300
    assert Settings(k=3).k == 3
    assert Settings().data_dir == Path("from_toml")


def test_config_file_path_from_env(tmp_path, monkeypatch):
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text("candidates = 12\n")
    monkeypatch.setenv("RAG_CONFIG", str(cfg))
    assert Settings().candidates == 12


def test_invalid_values_are_refused():
    with pytest.raises(ValidationError):
        Settings(chunk_tokens=100, chunk_overlap_tokens=100)
    with pytest.raises(ValidationError):
        Settings(unknown_setting=1)
    with pytest.raises(ValidationError):
        Settings(k=0)


def test_every_setting_is_described():
    rows = describe()
    assert {name for name, *_ in rows} == set(Settings.model_fields)
    assert all(doc for *_, doc in rows)
    page = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [env for _, env, _, _ in rows if env not in page]
    assert missing == [], "docs/settings.md must document every setting"
