"""Uploaded file names are sanitised and nothing is ever written outside <data_dir>/uploads/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ui import uploads
from ui.uploads import MAX_UPLOAD_MB, safe_name, save_uploads, upload_dir

NASTY = [
    "../../etc/passwd.txt",
    "..\\..\\x.txt",
    "..\\x.txt",
    "/etc/passwd.txt",
    "C:\\Windows\\system32\\evil.md",
    "notes\n../../evil.txt",
    "bad\r\nname.txt",
    "nul\x00byte.txt",
    ".hidden.md",
    "...md",
    "..",
    ".",
    "",
    "  spaced  .txt ",
    "a/../../b.md",
    "%2e%2e%2fevil.txt",
    "x" * 500 + ".txt",
    "über résumé.md",
    "name\u202egnp.txt",
]


@pytest.mark.parametrize("name", NASTY)
def test_safe_name_is_one_plain_component(name):
    safe = safe_name(name)
    assert safe and safe not in (".", "..")
    assert "/" not in safe and "\\" not in safe and ".." not in safe
    assert not safe.startswith((".", " "))
    assert all(ch.isprintable() for ch in safe)
    assert len(safe) <= 120
    assert Path(safe).name == safe


def test_safe_name_examples():
    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name("..\\x.txt") == "x.txt"
    assert safe_name("/abs/path/report.md") == "report.md"
    assert safe_name("notes\n../../evil.txt") == "evil.txt"
    assert safe_name(".hidden.md") == "hidden.md"
    assert safe_name("über résumé.md") == "über résumé.md"
    assert safe_name("x" * 500 + ".txt").endswith(".txt")


@pytest.mark.parametrize("name", NASTY)
def test_save_uploads_never_writes_outside_the_folder(tmp_path, name):
    data = tmp_path / "data"
    folder = upload_dir(data)
    src = tmp_path / "src.bin"
    src.write_text("hello", encoding="utf-8")
    before = {p for p in tmp_path.rglob("*")}
    saved, rejected = save_uploads([(name, str(src))], folder)
    after = {p for p in tmp_path.rglob("*")}
    for p in after - before:
        assert p.parent == folder, p
    assert len(saved) + len(rejected) == 1
    for p in saved:
        assert p.parent == folder and p.read_text(encoding="utf-8") == "hello"


def test_unsupported_and_oversized_are_refused_and_the_others_kept(tmp_path):
    folder = upload_dir(tmp_path / "data")
    ok = tmp_path / "ok.md"
    ok.write_text("fine", encoding="utf-8")
    exe = tmp_path / "doc.exe"
    exe.write_bytes(b"MZ")
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:  # sparse: no disk used
        f.truncate(MAX_UPLOAD_MB * 1024 * 1024 + 1)
    noext = tmp_path / "README"
    noext.write_text("x", encoding="utf-8")
    saved, rejected = save_uploads([str(exe), str(big), str(ok), str(noext)], folder)
    assert saved == [folder / "ok.md"]
    reasons = dict(rejected)
    assert "unsupported file type .exe" in reasons["doc.exe"]
    assert "too large" in reasons["big.txt"] and f"{MAX_UPLOAD_MB} MB" in reasons["big.txt"]
    assert "unsupported" in reasons["README"]
    assert sorted(p.name for p in folder.iterdir()) == ["ok.md"]


def test_same_name_twice_in_one_upload_keeps_both(tmp_path):
    folder = upload_dir(tmp_path / "data")
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "n.txt").write_text("one", encoding="utf-8")
    (b / "n.txt").write_text("two", encoding="utf-8")
    saved, _ = save_uploads([str(a / "n.txt"), ("../n.txt", str(b / "n.txt"))], folder)
    assert [p.name for p in saved] == ["n.txt", "n-2.txt"]
    assert [p.read_text(encoding="utf-8") for p in saved] == ["one", "two"]


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_a_planted_symlink_is_replaced_not_followed(tmp_path):
    folder = upload_dir(tmp_path / "data")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me", encoding="utf-8")
    (folder / "trap.txt").symlink_to(outside)
    src = tmp_path / "trap.txt"
    src.write_text("new", encoding="utf-8")
    saved, _ = save_uploads([str(src)], folder)
    assert outside.read_text(encoding="utf-8") == "keep me"
    assert not saved[0].is_symlink() and saved[0].read_text(encoding="utf-8") == "new"


def test_limit_is_a_ui_module_constant():
    assert uploads.MAX_UPLOAD_MB == 50
