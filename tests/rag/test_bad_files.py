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
        "huge.pdf": "too large (200 MB > 100 MB limit)",
        "huge.txt": "binary file, not text",
        "loop-a.txt": "symbolic link loop",
        "loop-b.txt": "symbolic link loop",
        "broken.md": "broken symbolic link",
    }
    (root / "empty.txt").write_bytes(b"")
    (root / "empty\nnamed.txt").write_bytes(b"")
    bad["empty\nnamed.txt"] = "empty file"
    (root / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (root / "one-line.txt").write_bytes(b"x" * (5 << 20))  # 5 MB, no space
    for name in ("huge.pdf", "huge.txt"):  # 200 MB of NULs that take no disk space
        with open(root / name, "wb") as sparse:
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
    assert str(root / "huge.pdf") not in read  # refused on its size, never read
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
    big = docs / "big.html"  # read whole to be parsed
    big.write_bytes(b"<p>A plain sentence about the weather.</p>" * 60)
    size = big.stat().st_size
    assert size > 0.002 * 2**20
    long_text = docs / "long.txt"  # text is read in parts, so it has no size limit
    long_text.write_bytes(b"A plain sentence about the sea. " * 70)
    assert long_text.stat().st_size > 0.002 * 2**20
    rag_ = make_rag(max_file_mb=0.002)  # small files, a small limit: less text to embed
    report = rag_.ingest([docs])
    assert sorted(report.added) == [str(kept), str(long_text)]
    assert report.failed == [(str(big), f"too large ({size / 2**20:.3g} MB > 0.002 MB limit)")]

    kept.write_bytes(b"\x00\x01\x02 now binary")  # a good file turns bad: its last version stays
    report = rag_.ingest([docs])
    assert dict(report.failed)[str(kept)] == "binary file, not text"
    assert [d.source for d in rag_.sources()] == [str(kept), str(long_text)]
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


def test_a_200_mb_text_file_is_read_in_parts_never_whole(make_rag, tmp_path, monkeypatch):
    import ingest.loaders.text as text_loader

    read_whole = []
    read_bytes = text_loader.read_bytes
    monkeypatch.setattr(text_loader, "read_bytes", lambda p: read_whole.append(p) or read_bytes(p))
    docs = tmp_path / "docs"
    docs.mkdir()
    huge = docs / "export.txt"
    filler = (b"QmFzZTY0IGRhdGEgZnJvbSBhbiBleHBvcnQ" * 600)[:20_000] + b"\n"  # no words: not indexed
    with open(huge, "wb") as out:
        out.write("Ce fichier est un export de la base des phares.\n".encode())
        for _ in range((200 << 20) // len(filler) + 1):
            out.write(filler)
        out.write("Le gardien du phare d'Ar-Men s'appelle Goulven Le Bihan.\n".encode())
    assert huge.stat().st_size > 200 << 20
    rag_ = make_rag()
    report = rag_.ingest([docs])
    assert report.added == [str(huge)] and report.failed == [] and read_whole == []
    (passage,) = rag_.retrieve("Comment s'appelle le gardien du phare d'Ar-Men ?", k=1)
    assert "Goulven Le Bihan" in passage.text and passage.start > 200 << 20
    with open(huge, "rb") as stream:  # ASCII: characters are bytes
        stream.seek(passage.start)
        assert stream.read(passage.end - passage.start).decode() == passage.text
