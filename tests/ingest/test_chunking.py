import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import MAX_WORD_CHARS, chunk_document, chunk_spans, split_sentences
from ingest.loaders import LoadedDocument


def words(texts: list[str]) -> list[int]:
    return [len(text.split()) for text in texts]


class CountingCounter:
    """Whitespace word counter that records how many times it is called."""

    def __init__(self, overhead: int = 0) -> None:
        self.calls = 0
        self.overhead = overhead

    def __call__(self, texts: list[str]) -> list[int]:
        self.calls += 1
        return [self.overhead + len(text.split()) for text in texts]


def spans_of(text, max_tokens, overlap=0, hard_max=None, counter=words):
    return chunk_spans(
        text,
        count_tokens=counter,
        max_tokens=max_tokens,
        overlap_tokens=overlap,
        hard_max_tokens=max_tokens if hard_max is None else hard_max,
    )


def chunks_of(text, max_tokens, overlap=0, hard_max=None, counter=words):
    return [text[s:e] for s, e in spans_of(text, max_tokens, overlap, hard_max, counter)]


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


LAVROV = (
    "« C’est avec les Etats-Unis que nous mènerons l’essentiel des négociations », "
    "a déclaré M. Lavrov. Les vacances dureront 10 jours."
)


def test_french_quote_and_title_abbreviation():
    assert sentences(LAVROV) == [
        "« C’est avec les Etats-Unis que nous mènerons l’essentiel des négociations », "
        "a déclaré M. Lavrov.",
        "Les vacances dureront 10 jours.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith paid 3.5 dollars. He left.", ["Dr. Smith paid 3.5 dollars.", "He left."]),
        (
            "Mme Dupont et Mlle. Martin sont là. Bien.",
            ["Mme Dupont et Mlle. Martin sont là.", "Bien."],
        ),
        ("Wait... Really? Yes! Fine.", ["Wait...", "Really?", "Yes!", "Fine."]),
        ("Attendez… et puis voilà. Fin.", ["Attendez… et puis voilà.", "Fin."]),
        ("Vraiment ? Oui !", ["Vraiment ?", "Oui !"]),
        (
            "« Non. » dit-il. « Oui ! » Puis rien.",
            ["« Non. » dit-il.", "« Oui ! »", "Puis rien."],
        ),
        ("Des pommes, etc. et des poires.", ["Des pommes, etc. et des poires."]),
        ("Des pommes, etc. Ensuite, rien.", ["Des pommes, etc.", "Ensuite, rien."]),
        (
            "Use e.g. this one. J. K. Rowling wrote it.",
            ["Use e.g. this one.", "J. K. Rowling wrote it."],
        ),
        ("Né en 52 av. J.-C. à Rome.", ["Né en 52 av. J.-C. à Rome."]),
        ("Voir art. 12 et p. 3. Fin.", ["Voir art. 12 et p. 3.", "Fin."]),
        ("Modern art. The end.", ["Modern art.", "The end."]),
        ("Ils étaient sept. Le soir.", ["Ils étaient sept.", "Le soir."]),
        ("He said \"Stop.\" Then he left.", ["He said \"Stop.\"", "Then he left."]),
        ("Price is 3.50 € today. 20 left.", ["Price is 3.50 € today.", "20 left."]),
        ("Title line\nBody starts here. Ends.", ["Title line", "Body starts here.", "Ends."]),
        ("One.\n\n\n  Two.  \r\n", ["One.", "Two."]),
        ("", []),
        (" \n\t ", []),
    ],
)
def test_split_sentences(text, expected):
    assert sentences(text) == expected


def test_sentence_spans_are_stripped_and_ordered():
    text = "  A first one.   A second one!\n\n  Third  "
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["A first one.", "A second one!", "Third"]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def check_chunks(text: str, spans, hard_max: int | None) -> None:
    """Spans are in order, stripped, non-empty, within `hard_max` words, and cover the text."""
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(spans, spans[1:]))
    for s, e in spans:
        chunk = text[s:e]
        assert chunk == chunk.strip() and chunk
        assert hard_max is None or words([chunk])[0] <= hard_max
    covered = [False] * len(text)
    for s, e in spans:
        covered[s:e] = [True] * (e - s)
    assert all(covered[i] or c.isspace() for i, c in enumerate(text))


# Arbitrary unicode mixed with the pieces sentence splitting cares about.
text_strategy = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=12),
        st.sampled_from(
            [" ", "\n", "\n\n", "\r\n", "\t", ".", "!", "?", "…", "«", "»", "’", '"', ","]
            + ["\u202f", "\u00a0"]
            + ["M.", "etc.", "3.5", "e\u0301", "Word", "word", "Phrase. Suivante", "x" * 30]
        ),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=text_strategy,
    max_tokens=st.integers(1, 12),
    overlap=st.integers(0, 11),
    slack=st.integers(0, 5),
)
def test_chunk_spans_properties(text, max_tokens, overlap, slack):
    overlap = min(overlap, max_tokens - 1)
    hard_max = max_tokens + slack
    check_chunks(text, spans_of(text, max_tokens, overlap, hard_max), hard_max)


def subwords(texts: list[str]) -> list[int]:
    """A tokenizer-like counter: 2 special tokens, about one token per 3 characters."""
    return [2 + len(text) // 3 + len(text.split()) for text in texts]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=text_strategy, max_tokens=st.integers(4, 40), overlap=st.integers(0, 39))
def test_chunk_spans_properties_with_subword_counter(text, max_tokens, overlap):
    overlap = min(overlap, max_tokens - 1)
    spans = spans_of(text, max_tokens, overlap, counter=subwords)
    check_chunks(text, spans, hard_max=None)
    assert all(subwords([text[s:e]])[0] <= max_tokens for s, e in spans)


@settings(max_examples=100, deadline=None)
@given(
    sentence_lengths=st.lists(st.integers(1, 15), min_size=1, max_size=40),
    paragraph_every=st.integers(1, 6),
    max_tokens=st.integers(5, 30),
)
def test_chunk_spans_on_prose(sentence_lengths, paragraph_every, max_tokens):
    parts = []
    for i, n in enumerate(sentence_lengths):
        parts.append(" ".join(["mot"] * n) + ".")
        parts.append("\n\n" if (i + 1) % paragraph_every == 0 else " ")
    text = "".join(parts)
    check_chunks(text, spans_of(text, max_tokens, overlap=max_tokens // 3), max_tokens)


def test_sentences_are_packed_with_overlap():
    text = " ".join(f"Sentence number {i} here." for i in range(10))  # 4 words each
    chunks = chunks_of(text, 12, overlap=4)
    assert chunks[0] == "Sentence number 0 here. Sentence number 1 here. Sentence number 2 here."
    assert chunks[1].startswith("Sentence number 2 here.")  # one whole sentence carried over
    assert chunks[-1].endswith("Sentence number 9 here.")
    assert all(words([c])[0] <= 12 for c in chunks)


def test_no_overlap():
    text = " ".join(f"Sentence number {i} here." for i in range(6))
    assert chunks_of(text, 8) == [
        "Sentence number 0 here. Sentence number 1 here.",
        "Sentence number 2 here. Sentence number 3 here.",
        "Sentence number 4 here. Sentence number 5 here.",
    ]


def test_paragraph_break_preferred_when_reasonably_full():
    text = "One two three four. Five six seven eight.\n\nNine ten eleven twelve. More words here."
    assert chunks_of(text, 12) == [
        "One two three four. Five six seven eight.",
        "Nine ten eleven twelve. More words here.",
    ]


def test_long_sentence_split_at_words_and_long_word_at_characters():
    text = " ".join(["word"] * 25) + ". " + "x" * 50
    chunks = chunks_of(text, 4, overlap=1)
    # Whitespace-counted, the 50 'x' are a single token: only the 26 words need splitting.
    assert chunks == ["word word word word"] * 6 + ["word. " + "x" * 50]
    pieces = chunks_of(text, 20, counter=lambda texts: [len(t) for t in texts])
    assert all(len(p) <= 20 for p in pieces)
    assert "".join(p for p in pieces if "x" in p) == "x" * 50  # cut between characters


def test_counter_is_called_in_batches():
    text = " ".join(f"Sentence number {i} here." for i in range(200))
    counter = CountingCounter()
    chunk_spans(text, count_tokens=counter, max_tokens=40, overlap_tokens=8, hard_max_tokens=40)
    assert counter.calls == 2  # every sentence once, then every final chunk once


def test_per_text_overhead_is_discounted():
    text = " ".join(f"Sentence number {i} here." for i in range(20))
    counter = CountingCounter(overhead=2)
    assert [len(c.split()) for c in chunks_of(text, 14, counter=counter)] == [12] * 6 + [8]


def test_hard_max_enforced_when_counter_is_not_additive():
    text = " ".join(f"Sentence number {i} here." for i in range(30))
    # Joined text costs more than the sum of its sentences: one extra token per sentence boundary.
    counter = lambda texts: [len(t.split()) + t.count(". ") for t in texts]  # noqa: E731
    spans = spans_of(text, 20, overlap=4, hard_max=21, counter=counter)
    assert all(counter([text[s:e]])[0] <= 21 for s, e in spans)
    check_chunks(text, spans, 21)


def test_combining_marks_stay_with_their_base():
    text = "e\u0301" * 30
    chunks = chunks_of(text, 4, counter=lambda texts: [len(t) for t in texts])
    assert chunks == ["e\u0301e\u0301"] * 15


@pytest.mark.parametrize(
    ("max_tokens", "overlap", "hard_max"), [(0, 0, 5), (5, 5, 5), (5, -1, 5), (5, 1, 4)]
)
def test_invalid_limits(max_tokens, overlap, hard_max):
    with pytest.raises(ValueError):
        spans_of("Some text.", max_tokens, overlap, hard_max)


def test_hard_max_below_one_character():
    with pytest.raises(ValueError, match="single character"):
        spans_of("abc", 1, counter=lambda texts: [5 for _ in texts])


def test_empty_text_has_no_chunks():
    assert spans_of(" \n ", 5) == []


def test_chunk_document_metadata():
    text = "Page one text. More on page one.\fPage two text here."
    doc = LoadedDocument(
        source="/abs/doc.pdf",
        text=text,
        title="A title",
        date=None,
        pages=((2, 33, len(text)), (1, 0, 32)),
        language="en",
    )
    chunks = chunk_document(
        doc, count_tokens=words, max_tokens=4, overlap_tokens=0, hard_max_tokens=4, doc_hash="abc"
    )
    assert [c.page_content for c in chunks] == [
        "Page one text.",
        "More on page one.",
        "Page two text here.",
    ]
    first, _, last = chunks
    assert first.metadata == {
        "source": "/abs/doc.pdf",
        "title": "A title",
        "page": 1,
        "start": 0,
        "end": 14,
        "chunk_index": 0,
        "doc_hash": "abc",
        "language": "en",
    }
    assert "date" not in first.metadata
    assert last.metadata["page"] == 2 and last.metadata["chunk_index"] == 2
    for chunk in chunks:
        assert text[chunk.metadata["start"] : chunk.metadata["end"]] == chunk.page_content
        assert None not in chunk.metadata.values()


def test_a_chunk_never_spans_two_pages():
    pages = ["Le port de Brest accueille les navires. ", "La jetée fut bâtie en 1850. Elle mesure 300 m."]
    text = "\n\n".join(pages)
    doc = LoadedDocument("/abs/scan.pdf", text, None, None,
                         ((1, 0, len(pages[0])), (2, len(pages[0]) + 2, len(text))), "fr")
    chunks = chunk_document(doc, count_tokens=words, max_tokens=100, overlap_tokens=0,
                            hard_max_tokens=100, doc_hash="h")  # all of it would fit in one
    assert [(c.page_content, c.metadata["page"]) for c in chunks] == [
        ("Le port de Brest accueille les navires.", 1), (pages[1], 2)]


def test_a_chunk_never_spans_two_sections():
    text = "row 2: Port: Brest | Quay: 4\n\nrow 2: Light: Kermorvan | Height: 20 m"
    doc = LoadedDocument("/abs/ports.xlsx", text, None, None, None, "en",
                         sections=((0, "Harbours"), (text.index("row 2: Light"), "Lighthouses")))
    chunks = chunk_document(doc, count_tokens=words, max_tokens=100, overlap_tokens=0,
                            hard_max_tokens=100, doc_hash="h")
    assert [(c.page_content, c.metadata["section"]) for c in chunks] == [
        ("row 2: Port: Brest | Quay: 4", "Harbours"), ("row 2: Light: Kermorvan | Height: 20 m", "Lighthouses")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab .\n", min_size=1, max_size=40), min_size=1, max_size=5),
       st.integers(min_value=2, max_value=12))
def test_every_chunk_lies_within_one_page(page_texts, max_tokens):
    text, pages = "", []
    for number, page in enumerate(page_texts, 1):
        text += "\n\n" if text else ""
        pages.append((number, len(text), len(text) + len(page)))
        text += page
    doc = LoadedDocument("/abs/p.pdf", text, None, None, tuple(pages), "en")
    for chunk in chunk_document(doc, count_tokens=words, max_tokens=max_tokens, overlap_tokens=0,
                                hard_max_tokens=max_tokens, doc_hash="h"):
        start, end = chunk.metadata["start"], chunk.metadata["end"]
        assert text[start:end] == chunk.page_content
        number, page_start, page_end = pages[chunk.metadata["page"] - 1]
        assert page_start <= start and end <= page_end


def test_chunk_document_without_pages_or_title():
    doc = LoadedDocument("/abs/a.txt", "Hello world.", None, "2021-12", None, "en")
    (chunk,) = chunk_document(
        doc, count_tokens=words, max_tokens=10, overlap_tokens=2, hard_max_tokens=10, doc_hash="h"
    )
    assert chunk.metadata == {
        "source": "/abs/a.txt",
        "date": "2021-12",
        "start": 0,
        "end": 12,
        "chunk_index": 0,
        "doc_hash": "h",
        "language": "en",
    }


def test_runs_without_whitespace_are_left_out():
    blob = "QUJD" * (MAX_WORD_CHARS // 4)
    text = f"Avant l'image.\n\n![figure](data:image/png;base64,{blob})\n\nAprès l'image. " + "z" * 100
    doc = LoadedDocument("/abs/a.md", text, None, None, None, "fr")
    chunks = chunk_document(
        doc, count_tokens=words, max_tokens=50, overlap_tokens=0, hard_max_tokens=50, doc_hash="h"
    )
    assert [c.page_content for c in chunks] == ["Avant l'image.", "Après l'image. " + "z" * 100]
    for c in chunks:
        assert text[c.metadata["start"] : c.metadata["end"]] == c.page_content
    only_data = LoadedDocument("/abs/b.txt", "x" * MAX_WORD_CHARS, None, None, None, "en")
    assert chunk_document(
        only_data, count_tokens=words, max_tokens=50, overlap_tokens=0, hard_max_tokens=50, doc_hash="h"
    ) == []


def test_markdown_chunks_know_the_heading_they_start_under(tmp_path):
    from ingest.loaders import load

    path = tmp_path / "guide.md"
    path.write_text(
        "# Guide\n\nIntro words here.\n\n```\n# not a heading\n```\n\n## Install\n\n"
        + "Run the install step now. " * 12
        + "\n\n## Ask ##\n\n"
        + "Type a question and read the answer. " * 12,
        encoding="utf-8",
    )
    doc = load(path)
    assert [h for _, h in doc.sections] == ["Guide", "Install", "Ask"]
    assert all(doc.text[s:].startswith("#") for s, _ in doc.sections)
    chunks = chunk_document(doc, count_tokens=words, max_tokens=30, overlap_tokens=0,
                            hard_max_tokens=40, doc_hash="h")
    for chunk in chunks:
        start = chunk.metadata["start"]
        expected = [h for s, h in doc.sections if s <= start][-1]
        assert chunk.metadata["section"] == expected
    assert {c.metadata["section"] for c in chunks} == {"Guide", "Install", "Ask"}


def test_a_part_of_a_document_is_chunked_in_the_whole_text_s_offsets_and_numbering():
    whole = "Le premier paragraphe parle du port.\n\nLe second parle du phare et de sa lanterne."
    cut = whole.index("Le second")
    parts = [LoadedDocument(source="/abs/long.txt", text=text, title="Phares", date=None, pages=None,
                            language="fr", sections=((0, "Côte"),), offset=offset)
             for text, offset in ((whole[:cut], 0), (whole[cut:], cut))]
    chunks = []
    for part in parts:
        chunks += chunk_document(part, count_tokens=words, max_tokens=6, overlap_tokens=0,
                                 hard_max_tokens=6, doc_hash="abc", first_index=len(chunks))
    assert [c.metadata["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert len(chunks) >= 3 and chunks[-1].metadata["start"] > cut
    for chunk in chunks:
        assert whole[chunk.metadata["start"] : chunk.metadata["end"]] == chunk.page_content
        assert chunk.metadata["section"] == "Côte"
