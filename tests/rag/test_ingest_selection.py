"""Choosing files with --include/--exclude globs on `ingest` and `sync`; hidden files stay out."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.cli import main


@pytest.fixture
def docs(tmp_path) -> Path:
    root = tmp_path / "docs"
    for name, text in {
        "report.md": "# Rapport annuel\n\nLe chiffre d'affaires a progressé.",
        "notes.txt": "Penser à arroser les plantes.",
        "drafts/idea.md": "# Brouillon\n\nUne idée de roman policier.",
        "drafts/old.txt": "Vieux brouillon sans intérêt.",
        "2021/summary.txt": "Résumé de l'année 2021.",
        ".private/secret.md": "# Secret\n\nLe code du coffre.",
        ".hidden.txt": "Un fichier caché.",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def _names(paths) -> list[str]:
    return sorted(str(Path(p).relative_to(Path(p).parents[1])) if "/drafts/" in p or "/2021/" in p
                  else Path(p).name for p in paths)


def test_include_exclude_through_the_api(make_rag, docs):
    rag = make_rag()
    report = rag.ingest([docs], include=["*.md", "2021"], exclude=["drafts"])
    assert _names(report.added) == ["2021/summary.txt", "report.md"] and not report.failed
    report = rag.ingest(docs, exclude=["*.txt"])  # one path, as before
    assert _names(report.added) == ["drafts/idea.md"]

    # prune forgets only documents whose files are gone, not those the globs leave out
    (docs / "report.md").unlink()
    report = rag.ingest([docs], prune=True, include=["drafts"])
    assert _names(report.removed) == ["report.md"] and _names(report.unchanged) == ["drafts/idea.md"]
    assert _names(report.added) == ["drafts/old.txt"]
    assert _names(d.source for d in rag.sources()) == ["2021/summary.txt", "drafts/idea.md", "drafts/old.txt"]


def test_sync_with_globs_only_touches_what_they_select(make_rag, docs):
    rag = make_rag()
    rag.ingest([docs])
    assert _names(d.source for d in rag.sources()) == [
        "2021/summary.txt", "drafts/idea.md", "drafts/old.txt", "notes.txt", "report.md"
    ]  # hidden files and folders are skipped
    (docs / "drafts" / "idea.md").write_text("# Brouillon\n\nUne autre idée.", encoding="utf-8")
    (docs / "notes.txt").unlink()
    report = rag.sync(exclude=["drafts"])
    assert _names(report.removed) == ["notes.txt"] and not report.updated
    report = rag.sync(include=["*.md"])
    assert _names(report.updated) == ["drafts/idea.md"] and _names(report.unchanged) == ["report.md"]


def test_cli_options(tmp_path, docs, monkeypatch, real_embedder, capsys):
    import rag.factory

    monkeypatch.setattr(rag.factory, "make_embedder", lambda settings: real_embedder)
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "ingest", str(docs), "--include", "*.md", "--include", "*.txt",
                 "--exclude", "drafts", "--exclude", "2021/*"]) == 0
    assert "added 2, updated 0" in capsys.readouterr().out
    (docs / "report.md").write_text("# Rapport\n\nNouveau texte.", encoding="utf-8")
    (docs / "notes.txt").write_text("Nouveau pense-bête.", encoding="utf-8")
    assert main([*data, "sync", "--include", "notes.txt"]) == 0
    assert "added 0, updated 1, unchanged 0" in capsys.readouterr().out
    assert main([*data, "sync"]) == 0
    assert "added 0, updated 1, unchanged 1" in capsys.readouterr().out
