"""The sources panel and the chat helpers, as pure functions."""

from __future__ import annotations

from html import escape as html_escape

import pytest

from ui.app import parse_filters, plain_history
from ui.render import sources_html


def _answer(source, start, end, quote, **kw):
    c = {"number": 1, "source": str(source), "title": "T <b>", "date": "2024-01", "page": None,
         "start": start, "end": end, "quote": quote, "score": 1.0}
    c.update(kw)
    return {"text": f"{quote} [1]", "abstained": False, "query": "q", "citations": [c]}


def test_passage_shows_context_and_marks_the_quote(tmp_path):
    doc = tmp_path / "d.md"
    text = "Intro line.\nThe <script>alert(1)</script> quoted & kept.\nMore text after."
    doc.write_bytes(text.encode("utf-8"))
    start = text.index("The")
    end = text.index("kept.") + len("kept.")
    html = sources_html(_answer(doc, start, end, text[start:end], page=3), "q")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<mark>The &lt;script&gt;alert(1)&lt;/script&gt; quoted &amp; kept.</mark>" in html
    assert "Intro line." in html and "More text after." in html
    assert "T &lt;b&gt;" in html and "2024-01" in html and "d.md" in html and "page 3" in html


def test_changed_or_missing_file_shows_the_quote_alone(tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("completely different now", encoding="utf-8")
    html = sources_html(_answer(doc, 0, 5, "Hello"), "q")
    assert "<mark>Hello</mark>" in html and "quote alone" in html
    html = sources_html(_answer(tmp_path / "gone.txt", 0, 5, "Hello"), "q")
    assert "<mark>Hello</mark>" in html and "quote alone" in html


def test_abstention_is_said_plainly():
    html = sources_html({"text": "The documents do not contain the answer.", "abstained": True,
                         "query": "q", "citations": []}, "q")
    assert "The documents do not contain the answer" in html and "No sources" in html


def test_query_used_is_shown_when_it_differs(tmp_path):
    a = {"text": "x", "abstained": True, "query": "Previous question and now?", "citations": []}
    assert "Searched for" in sources_html(a, "and now?")
    assert "Searched for" not in sources_html(dict(a, query="and now?"), "and now?")


def test_long_context_is_cut_with_ellipses(tmp_path):
    doc = tmp_path / "long.txt"
    text = "word " * 400 + "NEEDLE here." + " word" * 400
    doc.write_text(text, encoding="utf-8")
    start = text.index("NEEDLE")
    html = sources_html(_answer(doc, start, start + 12, "NEEDLE here."), "q")
    assert "<mark>NEEDLE here.</mark>" in html and html.count("…") == 2
    assert len(html) < 2000


def test_parse_filters():
    from rag import Filters

    assert parse_filters([], "", None) is None
    assert parse_filters(["/a.md"], " 2024 ", "2024-03-15") == Filters(
        sources=["/a.md"], date_from="2024", date_to="2024-03-15")
    for bad in ("24", "2024-13", "2024-02-30", "2024/03", "yesterday"):
        with pytest.raises(ValueError, match="date_from: .* is not a date"):
            parse_filters(None, bad, None)


def test_plain_history_flattens_gradio_messages():
    h = [{"role": "user", "content": [{"type": "text", "text": "hi"}], "metadata": None},
         {"role": "assistant", "content": "there [1]"}]
    assert plain_history(h) == [{"role": "user", "content": "hi"},
                                {"role": "assistant", "content": "there [1]"}]


def test_unsupported_sentences_are_flagged_in_the_panel_and_the_chat(tmp_path):
    from rag.types import Answer, Citation
    from ui.render import chat_text

    doc = tmp_path / "d.md"
    doc.write_text("Paris is big.", encoding="utf-8")
    cite = Citation(number=1, source=str(doc), title="T", start=0, end=12, quote="Paris is big",
                    score=1.0)
    answer = Answer("Paris is big [1]. The moon is <cheese>.", [cite],
                    unsupported=("The moon is <cheese>.",))
    panel = sources_html(answer.to_dict(), "q")
    assert 'class="unsupported"' in panel and "The moon is &lt;cheese&gt;." in panel
    assert panel.index("unsupported") < panel.index('class="cite"')
    shown = chat_text(answer)
    assert "The moon is <cheese>. ⚠️" in shown and "Not supported by the documents" in shown
    assert chat_text(Answer("Paris is big [1].", [cite])) == "Paris is big [1]."


def test_a_pdf_citation_shows_its_context_from_the_extracted_text(tmp_path):
    from rag import document_text
    from tests.ingest.test_pdf_docx import pdf_bytes

    doc = tmp_path / "report.pdf"
    doc.write_bytes(pdf_bytes([["Page one intro."], ["The budget rose by 4 percent in 2023."]]))
    text = document_text(doc)
    start = text.index("The budget")
    end = start + len("The budget rose by 4 percent in 2023.")
    html = sources_html(_answer(doc, start, end, text[start:end], page=2), "q")
    assert "<mark>The budget rose by 4 percent in 2023.</mark>" in html
    assert "Page one intro." in html and "quote alone" not in html


def test_a_citation_deep_in_a_large_file_shows_its_context_read_as_a_window(tmp_path, monkeypatch):
    import ui.render

    import rag

    read = []
    original = rag.document_text
    monkeypatch.setattr(rag, "document_text", lambda *a: read.append(a) or original(*a))
    doc = tmp_path / "journal.txt"
    filler = "Une ligne du journal de bord, sans rien de notable ce jour-là.\n" * 90_000
    quote = "Le phare d'Ar-Men fut allumé en 1881."
    doc.write_text(filler + "Au large de Sein. " + quote + " La mer était calme.\n", encoding="utf-8")
    assert doc.stat().st_size > ui.render.WHOLE_TEXT_MAX_BYTES
    start = len(filler) + len("Au large de Sein. ")
    html = sources_html(_answer(doc, start, start + len(quote), quote), "q")
    assert f"<mark>{html_escape(quote)}</mark>" in html and "La mer était calme." in html
    assert "…" in html and "quote alone" not in html
    window = (start - ui.render.CONTEXT_CHARS, start + len(quote) + ui.render.CONTEXT_CHARS + 1)
    assert read == [(str(doc), *window)]  # only the window was asked for, not the whole text
