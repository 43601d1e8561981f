from pathlib import Path

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.loaders import LoadedDocument, LoadError, load, register, supported_suffixes
from ingest.loaders.base import _LOADERS


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def test_supported_suffixes():
    assert {".txt", ".md", ".html", ".htm"} <= supported_suffixes()


def test_register_adds_a_loader_for_a_new_suffix(tmp_path):
    @register((".XYZ",))
    def load_xyz(path: Path) -> LoadedDocument:
        return LoadedDocument(str(path), "xyz", None, None, None, "en")

    try:
        assert ".xyz" in supported_suffixes()
        assert load(write(tmp_path / "a.Xyz", b"")).text == "xyz"
    finally:
        del _LOADERS[".xyz"]


def test_text_is_the_file_content_exactly(tmp_path):
    content = "  First line\r\nsecond line\n\n\tthird\r\n"
    doc = load(write(tmp_path / "notes.txt", content))
    assert doc.text == content
    assert doc.source == str((tmp_path / "notes.txt").resolve())
    assert doc.title == "First line"
    assert doc.date is None and doc.pages is None
    assert doc.language == "en"


def test_relative_path_gives_absolute_source(tmp_path):
    write(tmp_path / "rel.txt", "hello there")
    assert load("rel.txt").source == str(tmp_path.resolve() / "rel.txt")


def test_uppercase_suffix_dispatches(tmp_path):
    assert load(write(tmp_path / "LOUD.TXT", "Loud text")).title == "Loud text"


@pytest.mark.parametrize(
    ("first_line", "date", "title"),
    [
        ("date 2021-12 La Russie a nié", "2021-12", "La Russie a nié"),
        ("   date 2022-01-09 Headline here  ", "2022-01-09", "Headline here"),
        ("Date 2020-02-29 Leap day", "2020-02-29", "Leap day"),
        ("date 2021-13 Not a month", None, "date 2021-13 Not a month"),
        ("date 2021-02-30 Not a day", None, "date 2021-02-30 Not a day"),
        ("dated 2021-12 nope", None, "dated 2021-12 nope"),
    ],
)
def test_date_header(tmp_path, first_line, date, title):
    content = f"{first_line}\nBody text.\n"
    doc = load(write(tmp_path / "news.txt", content))
    assert (doc.date, doc.title) == (date, title)
    assert doc.text == content


def test_date_header_without_headline_falls_back_to_next_line(tmp_path):
    doc = load(write(tmp_path / "news.txt", "date 2021-12\n\nThe real title\nBody."))
    assert (doc.date, doc.title) == ("2021-12", "The real title")


def test_header_after_utf8_bom(tmp_path):
    doc = load(write(tmp_path / "bom.txt", b"\xef\xbb\xbfdate 2021-12 Titre\nCorps."))
    assert doc.text.startswith("\ufeffdate")  # decoded with 'utf-8': the BOM is kept
    assert (doc.date, doc.title) == ("2021-12", "Titre")


WIDE = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "utf-8-sig"]


@pytest.mark.parametrize("encoding", WIDE)
def test_utf16_and_utf32_with_or_without_a_mark_are_decoded_as_what_they_are(tmp_path, encoding):
    content = "date 2024-03 Le phare de l’île\nL’été à Noël, « œuvre » née à Brest, 5 €.\n"
    doc = load(write(tmp_path / "note.txt", content.encode(encoding)))
    assert doc.text.removeprefix("\ufeff") == content  # a mark, when there is one, stays as U+FEFF
    assert (doc.date, doc.title, doc.language) == ("2024-03", "Le phare de l’île", "fr")
    plain = load(write(tmp_path / "plain.md", "L’été à Noël.\n".encode(encoding)))
    assert plain.title == "L’été à Noël."  # a byte-order mark is never part of a title


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.sampled_from("abcXYZ éèàçôÉ’«»€œ.,;:!?0123456789 \n"), min_size=2, max_size=300),
       encoding=st.sampled_from(WIDE))
def test_any_text_in_a_wide_encoding_comes_back(tmp_path, text, encoding):
    if not text.strip():
        return
    data = text.encode(encoding)
    path = write(tmp_path / "any.txt", data)
    if encoding in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be") and sum(c in "’€œ" for c in text) * 10 > len(text):
        return  # without a mark, text is recognised by Latin letters' NUL bytes: not mostly symbols
    assert load(path).text.removeprefix("\ufeff") == text


def test_a_few_damaged_bytes_in_utf8_give_replacement_characters_not_mojibake(tmp_path):
    good = "L’été à Noël, le garçon a mangé une crème brûlée.\n".encode()
    doc = load(write(tmp_path / "damaged.txt", good + b"Un octet ab\xe9m\xe9.\n" + good))
    assert doc.text == good.decode() + "Un octet ab\ufffdm\ufffd.\n" + good.decode()


def test_markdown_title_is_first_heading(tmp_path):
    content = "Intro paragraph.\n\n```python\n# not a title\n```\n\n## The Title ##\n\n# Later\n"
    doc = load(write(tmp_path / "doc.md", content))
    assert doc.title == "The Title"
    assert doc.text == content


def test_markdown_without_heading_uses_first_line(tmp_path):
    assert load(write(tmp_path / "doc.md", "\n\n  Just text.\nMore.")).title == "Just text."


def test_markdown_date_header_wins_over_heading(tmp_path):
    doc = load(write(tmp_path / "doc.md", "date 2023-05 Header title\n# Heading\n"))
    assert (doc.date, doc.title) == ("2023-05", "Header title")


def test_long_title_is_capped(tmp_path):
    doc = load(write(tmp_path / "long.txt", "word " * 200))
    assert len(doc.title) <= 201 and doc.title.endswith("…")


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_legacy_french_encodings(tmp_path, encoding):
    content = "Été à Noël, le garçon a mangé une crème brûlée près de la forêt.\n"
    doc = load(write(tmp_path / "fr.txt", content.encode(encoding)))
    assert doc.text == content
    assert doc.language == "fr"


def test_cp1252_specific_characters(tmp_path):
    content = "L’été dernier, « l’œuvre » a coûté 10 € — c’était déjà trop…"
    assert load(write(tmp_path / "fr.txt", content.encode("cp1252"))).text == content


def test_short_latin1_word(tmp_path):
    assert load(write(tmp_path / "cafe.txt", "café".encode("latin-1"))).text == "café"


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  ", b"\xef\xbb\xbf\n"])
def test_empty_file(tmp_path, content):
    with pytest.raises(LoadError) as caught:
        load(write(tmp_path / "empty.txt", content))
    assert str(caught.value) == "empty file"
    assert caught.value.path == str((tmp_path / "empty.txt").resolve())


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", bytes(range(1, 256)) * 4, b"text with a \x00 byte"],
)
def test_binary_txt(tmp_path, content):
    with pytest.raises(LoadError, match="binary file, not text"):
        load(write(tmp_path / "image.txt", content))


def test_missing_file(tmp_path):
    with pytest.raises(LoadError) as caught:
        load(tmp_path / "missing.txt")
    assert caught.value.reason == "no such file or directory"


def test_folder_with_text_suffix(tmp_path):
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(LoadError, match="directory"):
        load(tmp_path / "folder.txt")


def test_unsupported_suffix(tmp_path):
    with pytest.raises(LoadError, match=r"unsupported file type '\.xyz'"):
        load(write(tmp_path / "data.xyz", "text"))


HTML = """<!doctype html>
<html lang="fr"><head><title>  Titre   de la page </title>
<meta property="article:published_time" content="2021-12-27T10:00:00+00:00">
<style>p { color: red }</style><script>var x = "script text";</script></head>
<body>
<header>Site banner</header>
<nav><a href="/">Accueil</a></nav>
<main>
  <h1>Gros titre</h1>
  <p>Premier   paragraphe
  sur deux lignes avec <b>du gras</b> et <a href="#">un lien</a>.</p>
  <!-- a comment -->
  <ul><li>un</li><li>deux<br>trois</li></ul>
  <form><input value="x">Form text</form>
  <pre>code
  indenté</pre>
</main>
<aside>Sidebar</aside>
<footer>Site footer</footer>
</body></html>
"""


def test_html_main_content(tmp_path):
    doc = load(write(tmp_path / "page.html", HTML))
    assert doc.text == (
        "Gros titre\n\n"
        "Premier paragraphe sur deux lignes avec du gras et un lien.\n\n"
        "un\n\ndeux\ntrois\n\n"
        "code\n  indenté"
    )
    assert doc.title == "Titre de la page"
    assert doc.date == "2021-12-27"
    assert doc.language == "fr"
    assert doc.pages is None


def test_html_without_main_uses_body_and_drops_chrome(tmp_path):
    html = (
        "<html><body><header>Top</header><div>Body text.</div><div><p>More.</p></div>"
        "<footer>Bottom</footer><noscript>Enable JS</noscript></body></html>"
    )
    doc = load(write(tmp_path / "page.htm", html))
    assert doc.text == "Body text.\n\nMore."
    assert doc.title is None and doc.date is None


def test_html_article_keeps_its_header_and_time_date(tmp_path):
    html = (
        "<html><body><nav>Menu</nav><article><header><h1>Headline</h1>"
        '<time datetime="2020-03-04">4 March</time></header><p>The story.</p></article>'
        "</body></html>"
    )
    doc = load(write(tmp_path / "story.html", html))
    assert doc.text == "Headline\n\n4 March\n\nThe story."
    assert doc.title == "Headline"
    assert doc.date == "2020-03-04"
    assert doc.language == "en"


def test_an_html_date_that_is_no_calendar_date_is_left_out(tmp_path):
    html = ('<html><head><meta property="article:published_time" content="2021-02-30T10:00">'
            '</head><body><article><time datetime="2021-13-01">?</time><p>Text.</p></article>'
            "</body></html>")
    assert load(write(tmp_path / "odd.html", html)).date is None


@pytest.mark.parametrize("text, ok", [("2024", True), ("2024-02", True), ("2024-02-29", True),
                                      ("2023-02-29", False), ("2024-13", False), ("2024-00", False),
                                      ("2024-1", False), ("24", False), ("2024/02", False), ("", False)])
def test_calendar_date_is_the_one_date_check(text, ok):
    from ingest.loaders import calendar_date

    assert calendar_date(text) == (text if ok else None)


def test_html_with_several_articles_keeps_them_all(tmp_path):
    html = (
        "<html><body><noscript><script>x()</script>No JS</noscript>"
        "<article><p>First.</p></article><article><p>Second.</p></article></body></html>"
    )
    assert load(write(tmp_path / "list.html", html)).text == "First.\n\nSecond."


def test_html_declared_encoding(tmp_path):
    html = '<html><head><meta charset="windows-1252"></head><body><p>L’été à Noël</p></body>'
    assert load(write(tmp_path / "p.html", html.encode("cp1252"))).text == "L’été à Noël"


def test_html_without_text(tmp_path):
    with pytest.raises(LoadError, match="no text content"):
        load(write(tmp_path / "blank.html", "<html><body><script>x()</script></body></html>"))


def test_empty_html(tmp_path):
    with pytest.raises(LoadError, match="empty file"):
        load(write(tmp_path / "blank.html", " \n"))
