"""Real-world bad input, generated here: each bad file is reported with a one-line reason and
every good file is ingested, through the API and through the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.cli import main

FRENCH = ("Les élèves ont répondu : « où est l’été ? » Voilà, c’est déjà fini. "
          "Œuvre complète à 5 €.")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def tree(tmp_path) -> tuple[Path, dict[str, str], list[str]]:
    """(folder, {bad file: expected start of its reason}, good files)."""
    root = tmp_path / "docs"
    root.mkdir()
    good = {
        "good.txt": "Le chat dort sur le canapé du salon.\n\nIl rêve de souris.",
        "good.md": "# Notes\n\nThe garden needs watering twice a week in summer.",
        "with space.txt": "Un fichier dont le nom contient un espace.",
        "new\nline.txt": "Un fichier dont le nom contient un saut de ligne.",
        "日本語のファイル.txt": "Un fichier au nom japonais : les cerisiers fleurissent en avril.",
        "Файл.md": "# Русский\n\nТекст о погоде в Москве.",
    }
    for name, text in good.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "french-cp1252.txt").write_bytes(FRENCH.encode("cp1252"))
    (root / ".hidden.txt").write_text("Hidden files are skipped.", encoding="utf-8")
    bad = {
        "empty.txt": "empty file",
        "binary.txt": "binary file, not text",
        "one-line.txt": "no words to index",
        "huge.txt": "too large (200 MB > 100 MB limit)",
        "loop-a.txt": "symbolic link loop",
        "loop-b.txt": "symbolic link loop",
        "broken.md": "broken symbolic link",
    }
    (root / "empty.txt").write_bytes(b"")
    (root / "empty\nnamed.txt").write_bytes(b"")
    bad["empty\nnamed.txt"] = "empty file"
    (root / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (root / "one-line.txt").write_bytes(b"x" * (5 << 20))  # 5 MB, no space
    with open(root / "huge.txt", "wb") as sparse:  # 200 MB that take no disk space
        sparse.truncate(200 << 20)
    (root / "loop-a.txt").symlink_to("loop-b.txt")
    (root / "loop-b.txt").symlink_to("loop-a.txt")
    (root / "broken.md").symlink_to("nowhere.md")
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)  # a folder loop
    os.close(os.open(bytes(root) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))  # not UTF-8
    bad[os.fsdecode(b"caf\xe9.txt")] = "file name is not valid UTF-8"
    if not IS_ROOT:  # root reads files whatever their mode
        (root / "locked.txt").write_text("Personne ne peut me lire.", encoding="utf-8")
        (root / "locked.txt").chmod(0)
        bad["locked.txt"] = "permission denied"
    good_files = sorted(str(root / name) for name in [*good, "french-cp1252.txt"])
    return root, {str(root / name): reason for name, reason in bad.items()}, good_files


def test_each_bad_file_has_its_reason_and_the_good_ones_are_ingested(make_rag, tree, monkeypatch):
    import rag.indexer

    root, bad, good = tree
    read = []
    hash_file = rag.indexer.file_hash
    monkeypatch.setattr(rag.indexer, "file_hash", lambda p: read.append(str(p)) or hash_file(p))
    rag_ = make_rag()
    report = rag_.ingest([root])

    assert sorted(report.added) == good
    reasons = dict(report.failed)
    assert len(reasons) == len(report.failed) == len(bad)
    for path, expected in bad.items():
        assert reasons[path].startswith(expected), (path, reasons[path])
        assert "\n" not in reasons[path]
    assert str(root / "huge.txt") not in read  # refused on its size, never read
    assert [d.source for d in rag_.sources()] == good

    passages = rag_.retrieve("Qu'ont répondu les élèves ?", k=3)
    french = next(p for p in passages if p.source.endswith("cp1252.txt"))
    assert french.text == Path(french.source).read_bytes().decode("cp1252")[french.start : french.end]
    assert all(word in french.text for word in ("élèves", "l’été", "Œuvre", "€"))
    newline = rag_.retrieve("saut de ligne", k=1)[0]
    assert newline.source == str(root / "new\nline.txt") and "saut de ligne" in newline.text


def test_a_file_over_the_limit_is_refused_and_nothing_is_lost(make_rag, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    kept = docs / "kept.txt"
    kept.write_text("La bibliothèque ouvre à neuf heures.", encoding="utf-8")
    big = docs / "big.txt"
    big.write_bytes(b"A plain sentence about the weather. " * 2000)  # 72,000 bytes
    rag_ = make_rag(max_file_mb=0.05)
    report = rag_.ingest([docs])
    assert report.added == [str(kept)]
    assert report.failed == [(str(big), "too large (0.0687 MB > 0.05 MB limit)")]

    kept.write_bytes(b"\x00\x01\x02 now binary")  # a good file turns bad: its last version stays
    report = rag_.ingest([docs])
    assert dict(report.failed)[str(kept)] == "binary file, not text"
    assert [d.source for d in rag_.sources()] == [str(kept)]
    assert "neuf heures" in rag_.retrieve("À quelle heure ouvre la bibliothèque ?", k=1)[0].text


def test_a_pdf_over_the_page_limit_is_refused_and_the_others_are_ingested(make_rag, tmp_path):
    from tests.ingest.test_pdf_docx import pdf_bytes

    docs = tmp_path / "docs"
    docs.mkdir()
    kept = docs / "kept.txt"
    kept.write_text("Le marché ouvre le samedi matin.", encoding="utf-8")
    long_pdf = docs / "long.pdf"
    long_pdf.write_bytes(pdf_bytes([[f"Page {n} of the annual report."] for n in (1, 2, 3)]))
    rag_ = make_rag(max_pdf_pages=2)
    report = rag_.ingest([docs])
    assert report.added == [str(kept)]
    assert report.failed == [
        (str(long_pdf), "too many pages (3 > 2 page limit; raise max_pdf_pages)")
    ]
    rag_.close()

    report = make_rag(max_pdf_pages=0).ingest([docs])  # 0: no limit
    assert report.added == [str(long_pdf)] and report.failed == []


@pytest.fixture
def cli(tmp_path, monkeypatch, real_embedder):
    """`main()` in-process, sharing the session's loaded model through the factory."""
    import rag.factory

    monkeypatch.setattr(rag.factory, "make_embedder", lambda settings: real_embedder)

    def run(*argv: str) -> int:
        return main(["--data-dir", str(tmp_path / "data"), *argv])

    return run


def test_cli_prints_one_line_per_failed_file(cli, tree, capsys):
    root, bad, good = tree
    assert cli("ingest", str(root)) == 0
    out = capsys.readouterr()
    assert f"added {len(good)}, updated 0, unchanged 0, removed 0, failed {len(bad)}" in out.out
    lines = out.err.splitlines()
    failed = [line for line in lines if line.startswith("  failed: ")]
    assert len(failed) == len(bad)
    for path, reason in bad.items():
        shown = path.replace("\n", "\\n").replace("\udce9", "\\udce9")
        assert any(line.startswith(f"  failed: {shown}: {reason}") for line in failed), path

    assert cli("ingest", "--strict", str(root)) == 1
    out = capsys.readouterr()
    assert f"unchanged {len(good)}" in out.out and len(out.err.splitlines()) == len(bad)
    assert cli("ingest", "--strict", *good) == 0
