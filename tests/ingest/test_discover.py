import hashlib
import os
from pathlib import Path

import pytest

from ingest.discover import content_hash, file_hash, iter_files, matches


def touch(path: Path, content: str = "text") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for name in ["b.txt", "a.md", "sub/c.html", "sub/deeper/d.HTM", "sub/e.pdfx", "notes"]:
        touch(root / name)
    touch(root / ".hidden.txt")
    touch(root / ".git" / "x.md")
    touch(root / "sub" / ".cache" / "y.txt")
    return root


def test_recursion_sorted_and_hidden_skipped(tree):
    files, problems = iter_files([tree])
    assert files == [
        tree / "a.md",
        tree / "b.txt",
        tree / "sub" / "c.html",
        tree / "sub" / "deeper" / "d.HTM",
    ]
    assert all(f.is_absolute() for f in files)
    assert problems == []


def test_include_hidden(tree):
    files, _ = iter_files([tree], include_hidden=True)
    assert tree / ".hidden.txt" in files
    assert tree / ".git" / "x.md" in files
    assert tree / "sub" / ".cache" / "y.txt" in files


def test_explicit_hidden_file_is_taken(tree):
    assert iter_files([tree / ".hidden.txt"])[0] == [tree / ".hidden.txt"]


def test_relative_paths_are_resolved(tree):
    os.chdir(tree)
    files, _ = iter_files(["b.txt", "./sub/../a.md"])
    assert files == [tree / "b.txt", tree / "a.md"]


def test_dedupe_keeps_first_occurrence(tree):
    files, _ = iter_files([tree / "b.txt", tree, tree / "sub", str(tree / "a.md")])
    assert files == [
        tree / "b.txt",
        tree / "a.md",
        tree / "sub" / "c.html",
        tree / "sub" / "deeper" / "d.HTM",
    ]


def test_problems(tree):
    files, problems = iter_files([tree / "missing.txt", tree / "notes", tree / "sub" / "e.pdfx"])
    assert files == []
    assert problems == [
        (str(tree / "missing.txt"), "no such file or directory"),
        (str(tree / "notes"), "unsupported file type (no extension)"),
        (str(tree / "sub" / "e.pdfx"), "unsupported file type '.pdfx'"),
    ]


def test_symlink_loop_and_linked_files(tmp_path):
    root = tmp_path / "root"
    touch(root / "a.txt")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "inner").mkdir()
    (root / "inner" / "back").symlink_to(root / "inner", target_is_directory=True)
    (root / "inner" / "alias.txt").symlink_to(root / "a.txt")
    (root / "broken.txt").symlink_to(tmp_path / "nowhere.txt")
    files, problems = iter_files([root])
    assert files == [root / "a.txt"]
    assert problems == [(str(root / "broken.txt"), "broken symbolic link")]


def test_symlinked_folder_outside_the_tree(tmp_path):
    outside = tmp_path / "outside"
    touch(outside / "o.md")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    assert iter_files([root])[0] == [outside / "o.md"]


def test_content_and_file_hash(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert content_hash(data) == expected
    assert file_hash(path) == expected
    assert file_hash(str(path)) == expected
    assert content_hash(b"") == hashlib.sha256(b"").hexdigest()


def test_link_loop_between_files(tmp_path):
    root = tmp_path / "root"
    touch(root / "a.txt")
    (root / "x.txt").symlink_to("y.txt")
    (root / "y.txt").symlink_to("x.txt")
    files, problems = iter_files([root])
    assert files == [root / "a.txt"]
    assert problems == [(str(root / name), "symbolic link loop") for name in ("x.txt", "y.txt")]
    assert iter_files([root / "x.txt"])[1] == [(str(root / "x.txt"), "symbolic link loop")]


def test_file_name_that_is_not_utf8(tmp_path):
    name = os.fsdecode(b"caf\xe9.txt")
    touch(tmp_path / name)
    assert iter_files([tmp_path]) == ([], [(str(tmp_path / name), "file name is not valid UTF-8")])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.md", True), ("a.md", True), ("*.txt", False), ("drafts", True), ("draft", False),
        ("2021/*.md", True), ("drafts/*.md", False), ("docs/drafts", True), ("drafts/", True),
        ("/home", True), ("/docs", False), ("d?afts", True), ("[a-c].md", True), ("", False),
    ],
)
def test_matches_names_from_the_right(pattern, expected):
    assert matches(Path("/home/u/docs/drafts/2021/a.md"), [pattern]) is expected


def test_include_and_exclude(tree):
    deeper = tree / "sub" / "deeper" / "d.HTM"
    assert iter_files([tree], include=["*.md", "deeper"])[0] == [tree / "a.md", deeper]
    assert iter_files([tree], exclude=["sub"])[0] == [tree / "a.md", tree / "b.txt"]
    assert iter_files([tree], include=["sub"], exclude=["*.HTM"])[0] == [tree / "sub" / "c.html"]
    # named files are filtered too, and an excluded file of an unknown type is no problem
    assert iter_files([tree / "b.txt", tree / "notes"], exclude=["b.txt", "notes"]) == ([], [])
    assert iter_files([tree], include=["*.txt"], include_hidden=True)[0] == [
        tree / ".hidden.txt", tree / "b.txt", tree / "sub" / ".cache" / "y.txt"
    ]


def test_excluded_folders_are_not_walked(tree, monkeypatch):
    walked = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: walked.append(Path(path)) or scandir(path))
    iter_files([tree], exclude=["sub"])
    assert walked == [tree]
