"""The named endpoints, called the way a user would: gradio_client over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import handle_file

from .conftest import ARTICLE_QUESTION, GUIDE_QUESTION, OFF_TOPIC_QUESTION, source_text

pytestmark = pytest.mark.xdist_group("ui")  # one worker runs every test of the session's UI (make test-fast)


def _check_citations(answer: dict) -> None:
    assert answer["citations"], answer
    for c in answer["citations"]:
        assert set(c) >= {"number", "source", "title", "date", "page", "start", "end", "quote", "score"}
        assert f"[{c['number']}]" in answer["text"]
        assert source_text(c["source"])[c["start"]:c["end"]] == c["quote"]


def test_ask_guide_question_returns_text_and_exact_citations(client, ui):
    answer = client.predict(GUIDE_QUESTION, None, api_name="/ask")
    assert answer == ui.rag.ask(GUIDE_QUESTION).to_dict()  # the one serialisation
    assert isinstance(answer, dict)
    assert answer["abstained"] is False
    assert answer["query"] == GUIDE_QUESTION
    assert "rag remove" in answer["text"]
    _check_citations(answer)


def test_ask_article_question(client):
    answer = client.predict(ARTICLE_QUESTION, None, api_name="/ask")
    assert not answer["abstained"]
    _check_citations(answer)
    assert any("news-fr" in c["source"] for c in answer["citations"])


def test_ask_with_filters_restricts_sources(client, ui):
    fr = str(ui.docs / "sample" / "guide-fr.md")
    answer = client.predict(GUIDE_QUESTION, {"sources": [fr]}, api_name="/ask")
    assert all(c["source"] == fr for c in answer["citations"])
    # a date range with no document in it leaves nothing to cite
    answer = client.predict(GUIDE_QUESTION, {"date_from": "1990", "date_to": "1991"}, api_name="/ask")
    assert answer["abstained"] is True and answer["citations"] == []


def test_abstention_has_no_citations(client):
    answer = client.predict(OFF_TOPIC_QUESTION, None, api_name="/ask")
    assert answer["abstained"] is True
    assert answer["citations"] == []
    assert "do not contain" in answer["text"]


def test_bad_filter_gives_a_clear_error_not_a_traceback(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(GUIDE_QUESTION, {"author": "x"}, api_name="/ask")
    assert "unknown filter" in str(err.value)
    with pytest.raises(AppError) as err:
        client.predict(GUIDE_QUESTION, {"date_from": "2021-13"}, api_name="/ask")
    assert "date_from: '2021-13' is not a date" in str(err.value) and "Traceback" not in str(err.value)
    assert "Traceback" not in str(err.value)


def test_ingest_uploaded_file_then_it_is_in_sources(client, ui, tmp_path):
    doc = tmp_path / "penguins.md"
    doc.write_text("date 2024-05-02 Penguin field notes\n\nEmperor penguins huddle together "
                   "to survive the Antarctic winter, taking turns on the windy edge.\n",
                   encoding="utf-8")
    bad = tmp_path / "notes.rtf"
    bad.write_bytes(b"{\\rtf1 not read}")
    report = client.predict([handle_file(str(doc)), handle_file(str(bad))], api_name="/ingest")
    saved = ui.data_dir.resolve() / "uploads" / "penguins.md"
    assert report["added"] == [str(saved)]
    assert [f["file"] for f in report["failed"]] == ["notes.rtf"]
    assert "unsupported file type" in report["failed"][0]["reason"]
    assert saved.read_bytes() == doc.read_bytes()
    sources = {d["source"]: d for d in client.predict(api_name="/sources")}
    assert sources[str(saved)]["title"] == "Penguin field notes"
    assert str(saved) in [d.source for d in ui.rag.sources()]
    answer = client.predict("How do emperor penguins survive the winter?", None, api_name="/ask")
    assert answer["citations"][0]["source"] == str(saved)
    # uploading the same file again changes nothing
    again = client.predict([handle_file(str(doc))], api_name="/ingest")
    assert again["unchanged"] == [str(saved)] and again["added"] == []
    assert not any(Path(p).name.startswith(".upload-") for p in saved.parent.iterdir())
