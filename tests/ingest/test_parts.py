"""Large text files read in parts (`load_parts`): the parts put together are exactly the text
`load` reads, whatever the encoding, line endings or where the blocks fall."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ingest.loaders.text as text_loader
from ingest import load, load_parts, streamed_suffixes
from ingest.loaders import LoadError

FRENCH = "Les élèves ont répondu : « où est l’été ? » Œuvre complète à 5 €."


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr(text_loader, "PART_BYTES", 1000)


def parts_of(path):
    parts = list(load_parts(path))
    assert [p.offset for p in parts] == [sum(len(q.text) for q in parts[:i]) for i in range(len(parts))]
    return parts


def test_text_and_markdown_are_streamed_and_other_types_come_whole(tmp_path):
    assert streamed_suffixes() == {".txt", ".md"}
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>Une page courte.</p></body></html>", encoding="utf-8")
    assert list(load_parts(page)) == [load(page)]


def test_a_file_under_a_part_is_one_part_as_load_reads_it(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("date 2024-03-01 Une note\n" + FRENCH, encoding="utf-8")
    assert list(load_parts(note)) == [load(note)]


@pytest.mark.parametrize("encoding, newline", [
    ("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("cp1252", "\r\n"), ("utf-16", "\n"), ("utf-16-be", "\r\n"),
    ("utf-32", "\n"), ("utf-32-le", "\n")])
def test_parts_join_into_the_whole_text(tmp_path, small_parts, encoding, newline):
    lines = ["date 2024-03-01 Le grand article", *(f"{i}. {FRENCH}" for i in range(60))]
    path = tmp_path / "article.txt"
    path.write_bytes(newline.join(lines).encode(encoding))
    whole, parts = load(path), parts_of(path)
    assert len(parts) > 3 and "".join(p.text for p in parts) == whole.text
    assert all(len(p.text) <= 2000 for p in parts)  # at most two blocks
    assert all(p.text.endswith("\n") for p in parts[:-1])  # cut at line ends
    assert {(p.title, p.date, p.language) for p in parts} == {("Le grand article", "2024-03-01", "fr")}


def test_markdown_parts_start_under_the_last_heading(tmp_path, small_parts):
    body = [f"# Chapitre {i}\n\n" + "\n\n".join([FRENCH] * 6) for i in range(1, 6)]
    fence = "```\n# pas un titre\n" + "\n".join([FRENCH] * 20) + "\n```\n"
    path = tmp_path / "livre.md"
    path.write_text(body[0] + "\n\n" + fence + "\n\n".join(body[1:]), encoding="utf-8")
    whole, parts = load(path), parts_of(path)
    assert whole.title == parts[0].title == "Chapitre 1"
    assert [(p.offset + start, heading) for p in parts for start, heading in p.sections
            if p.offset + start in dict(whole.sections)] == list(whole.sections)
    for part in parts:  # every part knows the heading its text starts under
        before = [h for start, h in whole.sections if start <= part.offset]
        if before:
            assert part.sections[0] == (0, before[-1])


def test_a_late_nul_byte_makes_the_file_binary_before_any_part(tmp_path, small_parts):
    path = tmp_path / "dump.txt"
    path.write_bytes((FRENCH + "\n").encode() * 100 + b"\x00" + b"tail\n")
    with pytest.raises(LoadError, match="binary file, not text"):
        next(load_parts(path))


def test_a_few_damaged_bytes_late_in_a_utf8_file_keep_it_utf8_throughout(tmp_path, small_parts):
    path = tmp_path / "mixed.txt"
    data = (FRENCH + "\n").encode() * 50 + "café crème\n".encode("cp1252")
    path.write_bytes(data)
    parts = parts_of(path)
    assert "".join(p.text for p in parts) == load(path).text == data.decode("utf-8", "replace")
    assert load(path).text.count("\ufffd") == 2 and "é" in load(path).text  # no mojibake of the rest


def test_a_cp1252_file_with_one_utf8_looking_pair_stays_cp1252(tmp_path, small_parts):
    path = tmp_path / "legacy.txt"
    data = "Le café, la crème et l’été à Noël.\n".encode("cp1252") * 40 + "Ã©\n".encode("cp1252")
    path.write_bytes(data)
    assert "".join(p.text for p in parts_of(path)) == load(path).text == data.decode("cp1252")


def test_a_long_line_without_breaks_is_cut_at_spaces(tmp_path, small_parts):
    path = tmp_path / "line.txt"
    path.write_text(" ".join(["mot"] * 2000), encoding="utf-8")
    parts = parts_of(path)
    assert len(parts) > 4 and all(p.text.endswith(" ") for p in parts[:-1])
    assert "".join(p.text for p in parts) == load(path).text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(st.sampled_from("ab é€日\n\r\t\u2028"), min_size=1, max_size=3000),
    part_bytes=st.integers(8, 400),
)
def test_parts_always_join_into_the_whole_text(tmp_path, monkeypatch, text, part_bytes):
    monkeypatch.setattr(text_loader, "PART_BYTES", part_bytes)
    path = tmp_path / "any.txt"
    path.write_bytes(text.encode("utf-8"))
    try:
        whole = load(path).text
    except LoadError as error:  # whitespace only: the whole file is 'empty'
        assert error.reason == "empty file"
        return
    parts = parts_of(path)
    assert "".join(p.text for p in parts) == whole
    assert all(p.text for p in parts)
