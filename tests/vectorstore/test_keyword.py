import math
import sqlite3
import subprocess
import sys
import tempfile
import threading
from array import array
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectorstore.keyword import KeywordIndex
from vectorstore.textproc import ANALYZER_VERSION, analyze, rules_for

ROOT = Path(__file__).resolve().parents[2]


# -- analyze ------------------------------------------------------------------------------


def test_accents_case_and_hyphens_fold_together():
    assert analyze("États-Unis", "fr") == analyze("etats unis", "fr") == analyze("Etats-Unis", "fr")
    assert analyze("États-Unis", "fr") == ["etat", "unis"]


def test_french_elisions_split_with_both_apostrophes():
    terms = analyze("l’État d'Israël qu’il j'ai", "fr")
    assert terms == ["etat", "israel"]


def test_stemming_merges_inflections():
    assert analyze("négociations", "fr") == analyze("négociation", "fr") == analyze("negociation", "fr")
    assert analyze("The running dogs", "en") == ["run", "dog"]


def test_stop_words_removed():
    assert analyze("le chat et la souris", "fr") == ["chat", "sour"]
    assert analyze("the and of is it", "en") == []
    assert analyze("être été à où", "fr") == analyze("etre ete a ou", "fr") == []


def test_numbers_and_compatibility_forms():
    assert analyze("100\u202f000 habitants en 2021, 10 ans", "fr") == ["100000", "habit", "2021", "10", "an"]
    assert analyze("1 234 567", "en") == ["1234567"]
    assert analyze("ﬁnance Cœur", "fr") == ["financ", "coeur"]


def test_language_rules():
    assert rules_for("fr") == rules_for("FR-ca") == rules_for("french") == "fr"
    assert rules_for("en") == rules_for("de") == rules_for(None) == "en"
    assert analyze("running houses", "de") == analyze("running houses", "en")


# -- helpers ------------------------------------------------------------------------------


def meta(source="a.txt", language="fr", date=None):
    out = {"source": source, "language": language}
    if date:
        out["date"] = date
    return out


def dump(path) -> dict:
    """Every table, and every term instance the FTS5 index holds, read through a separate connection."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE VIRTUAL TABLE temp.instances USING fts5vocab(main, terms, instance)")
        return {
            "chunks": conn.execute("SELECT * FROM chunks ORDER BY 1").fetchall(),
            "terms": conn.execute("SELECT rowid, analysed FROM terms ORDER BY 1").fetchall(),
            "index": conn.execute("SELECT * FROM temp.instances ORDER BY 1, 2, 4").fetchall(),
            "stats": [fts5_stats(conn)],
            "versions": conn.execute("SELECT * FROM versions ORDER BY 1").fetchall(),
        }


def fts5_stats(conn) -> tuple[int, int]:
    """(N, total length in terms) as FTS5 maintains them for bm25(): the 'averages' record,
    empty until the first write."""
    blob = conn.execute("SELECT block FROM terms_data WHERE id = 1").fetchone()[0]
    values, value = [], 0
    for byte in blob:  # SQLite varints (at most 8 bytes here)
        value = value << 7 | byte & 0x7F
        if byte < 0x80:
            values.append(value)
            value = 0
    return (values[0], values[1]) if values else (0, 0)


def check_consistent(path) -> None:
    """FTS5's index, lengths and stats equal a recomputation from the stored chunks' terms."""
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO terms (terms) VALUES ('integrity-check')")  # raises if not
        contents = dict(conn.execute("SELECT rowid, analysed FROM terms"))
        assert set(contents) == {rid for (rid,) in conn.execute("SELECT rid FROM chunks")}
        lengths = {rid: len(text.split()) for rid, text in contents.items()}
        assert fts5_stats(conn) == (len(contents), sum(lengths.values()))
        conn.execute("CREATE VIRTUAL TABLE temp.instances USING fts5vocab(main, terms, instance)")
        indexed = Counter(rid for (rid,) in conn.execute("SELECT doc FROM temp.instances"))
        assert indexed == Counter({rid: n for rid, n in lengths.items() if n})


def bm25(corpus: dict[str, list[str]], query_terms: set[str]) -> dict[str, float]:
    """BM25 as FTS5's bm25() computes it (k1=1.2, b=0.75, idf log((N - df + 0.5) / (df + 0.5))
    floored at 1e-6), written independently of the index."""
    n = len(corpus)
    avgdl = sum(map(len, corpus.values())) / n
    scores = {}
    for doc, terms in corpus.items():
        tf = Counter(terms)
        score = 0.0
        for term in query_terms:
            if tf[term]:
                df = sum(term in other for other in corpus.values())
                idf = max(1e-6, math.log((n - df + 0.5) / (df + 0.5)))
                score += idf * tf[term] * 2.2 / (tf[term] + 1.2 * (0.25 + 0.75 * len(terms) / avgdl))
        if score:
            scores[doc] = score
    return scores


@pytest.fixture
def index(tmp_path):
    with KeywordIndex(tmp_path / "keyword.sqlite3") as idx:
        yield idx


CORPUS = {
    "fr1": ("Les négociations entre la France et les États-Unis ont repris en 2021.", "fr"),
    "fr2": ("La France a signé un accord commercial avec l'Allemagne.", "fr"),
    "fr3": ("Le chat dort sur le canapé du salon, le chat ronronne.", "fr"),
    "en1": ("Trade negotiations with the United States resumed in 2021.", "en"),
    "en2": ("The running dogs chased the cat across the garden.", "en"),
}


def fill(idx, corpus=CORPUS, source="a.txt"):
    ids = list(corpus)
    idx.add(ids, [corpus[i][0] for i in ids], [meta(source, corpus[i][1]) for i in ids])


# -- BM25 ---------------------------------------------------------------------------------


def test_scores_match_hand_computed_bm25(index):
    fill(index)
    query = "négociations États-Unis chat 2021"
    expected = bm25(
        {i: analyze(text, lang) for i, (text, lang) in CORPUS.items()},
        set(analyze(query, "fr")) | set(analyze(query, "en")),
    )
    got = index.search(query, 10)
    assert dict(got) == pytest.approx(expected, rel=1e-12)
    assert [i for i, _ in got] == sorted(expected, key=expected.__getitem__, reverse=True)


def test_rare_terms_rank_first(index):
    common = {f"c{i}": (f"La France et la politique de la France, numéro {i}.", "fr") for i in range(30)}
    fill(index, {**common, **CORPUS})
    assert index.search("France Allemagne accord", 3)[0][0] == "fr2"
    assert index.search("chat canapé", 1)[0][0] == "fr3"


def test_query_uses_french_and_english_rules(index):
    fill(index)
    found = {i for i, _ in index.search("running négociations", 10)}
    assert found == {"en2", "fr1"}  # 'run' by English rules, 'negoci' by French rules


def test_query_language_restricts_the_rules(index):
    fill(index)
    assert {i for i, _ in index.search("running négociations", 10, language="en")} == {"en2"}
    assert {i for i, _ in index.search("running négociations", 10, language="fr")} == {"fr1"}


def test_empty_queries_and_k(index):
    fill(index)
    assert index.search("le la les the of", 5) == []
    assert index.search("zzzunknown", 5) == []
    assert index.search("chat", 0) == []
    assert index.search("chat", 5, sources=[]) == []
    assert len(index.search("2021 France chat", 2)) == 2


# -- writes keep stats exact --------------------------------------------------------------


def test_add_delete_replace_keep_stats_exact(index):
    fill(index)
    check_consistent(index.path)
    index.add(["fr3", "new"], ["Le chien dort.", "Un texte nouveau, nouveau."], [meta("b.txt"), meta("b.txt")])
    check_consistent(index.path)
    assert index.count() == 6
    assert index.search("chat", 5) == []  # fr3 was replaced: its old postings are gone
    assert index.delete(["fr1", "missing"]) == 1
    check_consistent(index.path)
    index.replace_source("b.txt", ["b1"], ["Encore un chien."], [{"language": "fr"}])
    check_consistent(index.path)
    assert index.ids() == {"fr2", "en1", "en2", "b1"}
    assert index.delete_where_source("a.txt") == 3
    check_consistent(index.path)
    assert index.ids() == {"b1"} and index.count() == 1
    index.add(["empty"], [""], [meta()])
    check_consistent(index.path)
    assert index.count() == 2
    index.delete(["b1", "empty"])
    assert dump(index.path)["terms"] == dump(index.path)["index"] == [] and dump(index.path)["stats"] == [(0, 0)]


def test_invalid_input_is_rejected(index):
    with pytest.raises(ValueError):
        index.add(["a", "a"], ["x", "y"], [meta(), meta()])
    with pytest.raises(ValueError):
        index.add(["a"], ["x"], [{"language": "fr"}])  # no source
    with pytest.raises(ValueError):
        index.add(["a"], ["x"], [meta(date="2021/05/01")])
    with pytest.raises(ValueError):
        index.search("x", 3, date_from="May 2021")
    assert index.count() == 0


def test_replace_source_is_atomic(index):
    fill(index)
    index.add(["b1"], ["Le chien de b."], [meta("b.txt")])
    before = dump(index.path)
    new = (["a1", "a2"], ["Premier texte.", "Second texte."])
    with pytest.raises(ValueError):  # mismatched lengths
        index.replace_source("a.txt", *new, [meta()])
    with pytest.raises(ValueError):  # a metadata that fails validation
        index.replace_source("a.txt", *new, [meta(), meta(date="hier")])
    with pytest.raises(ValueError):  # a chunk claiming another source
        index.replace_source("a.txt", *new, [meta(), meta("b.txt")])
    assert dump(index.path) == before
    # A failure inside the transaction, after the old chunks were deleted.
    with sqlite3.connect(index.path) as conn:
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON chunks WHEN NEW.id = 'a2' BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        index.replace_source("a.txt", *new, [meta(), meta()])
    assert dump(index.path) == before
    assert {i for i, _ in index.search("chat négociations", 10)} == {"fr1", "fr3"}
    with sqlite3.connect(index.path) as conn:
        conn.execute("DROP TRIGGER boom")
    index.replace_source("a.txt", *new, [meta(), meta()])
    assert index.ids() == {"a1", "a2", "b1"}
    check_consistent(index.path)


def test_persists_across_reopen(tmp_path):
    path = tmp_path / "sub" / "keyword.sqlite3"
    with KeywordIndex(path) as idx:
        fill(idx)
        results = idx.search("France 2021 chat", 10)
    with KeywordIndex(path) as idx:
        assert idx.ids() == set(CORPUS)
        assert idx.search("France 2021 chat", 10) == results
    with pytest.raises(RuntimeError):
        idx.count()


def test_other_format_is_reset(tmp_path):
    path = tmp_path / "keyword.sqlite3"
    with KeywordIndex(path) as idx:
        fill(idx)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")
    with KeywordIndex(path) as idx:
        assert idx.count() == 0 and idx.search("chat", 3) == []


def test_filters(index):
    rows = {
        "d1": ("chat noir", "a.txt", "2020-05-17"),
        "d2": ("chat blanc", "b.txt", "2021-06"),
        "d3": ("chat gris", "b.txt", "2021"),
        "d4": ("chat roux", "c.txt", None),
    }
    index.add(list(rows), [r[0] for r in rows.values()], [meta(r[1], date=r[2]) for r in rows.values()])

    def found(**filters):
        return {i for i, _ in index.search("chat", 10, **filters)}

    assert found() == set(rows)
    assert found(sources=["b.txt", "zzz"]) == {"d2", "d3"}
    assert found(date_from="2021") == {"d2", "d3"}
    assert found(date_from="2021-07") == {"d3"}  # a chunk dated only '2021' overlaps July 2021
    assert found(date_to="2020-05") == {"d1"}
    assert found(date_to="2020-05-16") == set()
    assert found(date_from="2020-05-17", date_to="2021-06-30") == {"d1", "d2", "d3"}
    assert found(sources=["a.txt", "c.txt"], date_to="2030") == {"d1"}  # undated excluded
    assert len(index.search("chat", 1, sources=["b.txt"])) == 1


# -- repair -------------------------------------------------------------------------------


def test_sync_from_repairs_missing_extra_and_changed(tmp_path, index):
    fill(index)
    target = {i: (text, meta("a.txt", lang)) for i, (text, lang) in CORPUS.items() if i != "fr1"}
    target["en2"] = ("A different text about cats.", meta("a.txt", "en"))
    target["new"] = ("Un chat nouveau.", meta("z.txt"))
    index.delete(["en1"])
    index.add(["extra"], ["à supprimer"], [meta()])
    items = [(i, text, m) for i, (text, m) in target.items()]
    assert index.sync_from(items, batch_size=2) == (3, 2)  # en1, en2, new written; fr1, extra deleted
    assert index.sync_from(items) == (0, 0)
    with KeywordIndex(tmp_path / "fresh.sqlite3") as fresh:
        fresh.add(list(target), [t for t, _ in target.values()], [m for _, m in target.values()])
        for query in ("chat cats", "France 2021", "negotiations"):
            assert dict(index.search(query, 10)) == pytest.approx(dict(fresh.search(query, 10)))
    check_consistent(index.path)


# -- equivalence with a fresh build (hypothesis) ------------------------------------------

WORDS = ["chat", "chats", "maison", "négociation", "négociations", "États", "unis", "running", "house",
         "Paris", "2021", "le", "the", "France", "accord", "dogs"]
IDS = st.sampled_from([f"c{i}" for i in range(10)])
SOURCES = st.sampled_from(["a.txt", "b.txt", "c.txt"])
TEXTS = st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join)
METAS = st.builds(meta, SOURCES, st.sampled_from(["fr", "en"]), st.sampled_from([None, "2020", "2021-03-04"]))
BATCH = st.lists(st.tuples(IDS, TEXTS, METAS), max_size=4, unique_by=lambda t: t[0])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), BATCH),
        st.tuples(st.just("delete"), st.lists(IDS, max_size=4)),
        st.tuples(st.just("delete_source"), SOURCES),
        st.tuples(st.just("replace"), SOURCES, BATCH),
    ),
    max_size=12,
)
QUERIES = ["chat", "négociations États-Unis", "running house 2021", "France accord Paris maison", "dogs chats"]


def apply(idx, model, op):
    if op[0] == "add":
        idx.add([b[0] for b in op[1]], [b[1] for b in op[1]], [b[2] for b in op[1]])
        model.update({b[0]: (b[1], b[2]) for b in op[1]})
    elif op[0] == "delete":
        idx.delete(op[1])
        for chunk_id in op[1]:
            model.pop(chunk_id, None)
    elif op[0] == "delete_source":
        idx.delete_where_source(op[1])
        for chunk_id in [i for i, (_, m) in model.items() if m["source"] == op[1]]:
            del model[chunk_id]
    else:
        source, batch = op[1], [(i, t, dict(m, source=op[1])) for i, t, m in op[2]]
        idx.replace_source(source, [b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch])
        for chunk_id in [i for i, (_, m) in model.items() if m["source"] == source]:
            del model[chunk_id]
        model.update({b[0]: (b[1], b[2]) for b in batch})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_any_history_equals_fresh_build(ops):
    with tempfile.TemporaryDirectory() as tmp:
        model: dict[str, tuple[str, dict]] = {}
        with KeywordIndex(Path(tmp) / "k.sqlite3") as idx, KeywordIndex(Path(tmp) / "fresh.sqlite3") as fresh:
            for op in ops:
                apply(idx, model, op)
            fresh.add(list(model), [t for t, _ in model.values()], [m for _, m in model.values()])
            assert idx.ids() == fresh.ids() == set(model)
            assert idx.count() == len(model)
            for query in QUERIES:
                for filters in ({}, {"sources": ["a.txt", "c.txt"]}, {"date_from": "2021"}):
                    got, want = idx.search(query, 20, **filters), fresh.search(query, 20, **filters)
                    assert dict(got) == pytest.approx(dict(want), rel=1e-12)
            check_consistent(idx.path)
            assert dump(idx.path)["stats"] == dump(fresh.path)["stats"]


# -- concurrency --------------------------------------------------------------------------


def test_two_threads_share_an_index(index):
    errors: list[BaseException] = []
    done = threading.Event()

    def writer():
        try:
            for b in range(40):
                ids = [f"w{b}-{i}" for i in range(25)]
                index.add(ids, [f"chat numéro {b} {i} France" for i in range(25)], [meta(f"s{b}.txt")] * 25)
                if b % 4 == 3:
                    index.replace_source(f"s{b}.txt", ids[:5], ["chien"] * 5, [meta(f"s{b}.txt")] * 5)
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)
        finally:
            done.set()

    def reader():
        try:
            while not done.is_set():
                for chunk_id, score in index.search("chat France", 10):
                    assert chunk_id.startswith("w") and score > 0
                assert index.count() % 5 == 0
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert index.count() == 30 * 25 + 10 * 5
    check_consistent(index.path)


WORKER = """
import sys
from vectorstore.keyword import KeywordIndex
with KeywordIndex(sys.argv[1]) as idx:
    for b in range(20):
        ids = [f"{sys.argv[2]}-{b}-{i}" for i in range(10)]
        idx.add(ids, ["chat et chien"] * 10, [{"source": f"{sys.argv[2]}{b}", "language": "fr"}] * 10)
"""


def test_two_processes_write_the_same_file(tmp_path):
    path = tmp_path / "keyword.sqlite3"
    KeywordIndex(path).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(path), name], cwd=ROOT) for name in ("p", "q")
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0]
    with KeywordIndex(path) as idx:
        assert idx.count() == 400
    check_consistent(path)


def test_replace_sources_streams_items_in_batches_in_one_transaction(index):
    fill(index)
    index.add(["b1"], ["Le chien de b."], [meta("b.txt")])
    before = dump(index.path)
    consumed = []

    def items(bad_at: int | None = None):
        for n in range(7):
            consumed.append(n)
            source = "a.txt" if n % 2 else "b.txt"
            yield f"n{n}", f"Texte numéro {n} sur les phares.", meta(source, date="hier" if n == bad_at else None)

    with pytest.raises(ValueError):  # the 6th item is invalid: the batches before it roll back
        index.replace_sources({"a.txt": "v2", "b.txt": "v2"}, items(bad_at=5), batch_size=2)
    assert dump(index.path) == before and consumed == list(range(6))
    with pytest.raises(ValueError, match="not being replaced"):
        index.replace_sources({"a.txt": "v2"}, items(), batch_size=2)
    assert dump(index.path) == before
    index.replace_sources({"a.txt": "v2", "b.txt": "v3"}, items(), batch_size=2)
    assert index.ids() == {f"n{n}" for n in range(7)}
    assert index.versions() == {"a.txt": "v2", "b.txt": "v3"}
    assert index.versions(["b.txt", "c.txt"]) == {"b.txt": "v3"}
    check_consistent(index.path)


# -- the format before FTS5 ---------------------------------------------------------------

FORMAT_1 = (  # BM25 computed in SQL over these tables; an index opening such a file converts it
    """CREATE TABLE chunks (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
        date TEXT, language TEXT NOT NULL, length INTEGER NOT NULL, digest BLOB NOT NULL, terms BLOB NOT NULL)""",
    "CREATE INDEX chunks_source ON chunks(source)",
    "CREATE TABLE terms (tid INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE, df INTEGER NOT NULL)",
    """CREATE TABLE postings (tid INTEGER NOT NULL, rid INTEGER NOT NULL, tf INTEGER NOT NULL,
        dl INTEGER NOT NULL, PRIMARY KEY (tid, rid)) WITHOUT ROWID""",
    "CREATE TABLE stats (one INTEGER PRIMARY KEY CHECK (one = 0), n INTEGER NOT NULL, total_length INTEGER NOT NULL)",
    "CREATE TABLE versions (source TEXT PRIMARY KEY, version TEXT NOT NULL)",
)


def write_format_1(path, chunks, digests: dict[str, bytes], versions: dict[str, str]) -> None:
    """A file as format 1 wrote it, holding `chunks` (id, text, metadata) and `versions`."""
    tids: dict[str, int] = {}
    df: Counter[str] = Counter()
    with sqlite3.connect(path) as conn:
        for statement in FORMAT_1:
            conn.execute(statement)
        for rid, (chunk_id, text, m) in enumerate(chunks, start=1):
            tf = Counter(analyze(text, m["language"]))
            df.update(tf.keys())
            doc_tids = [tids.setdefault(term, len(tids) + 1) for term in tf]
            conn.execute(
                "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rid, chunk_id, m["source"], m.get("date"), rules_for(m["language"]), tf.total(),
                 digests[chunk_id], array("i", doc_tids).tobytes()),
            )
            conn.executemany("INSERT INTO postings VALUES (?, ?, ?, ?)",
                             [(tid, rid, n, tf.total()) for tid, n in zip(doc_tids, tf.values())])
        conn.executemany("INSERT INTO terms VALUES (?, ?, ?)", [(tid, t, df[t]) for t, tid in tids.items()])
        conn.execute("INSERT INTO stats VALUES (0, ?, (SELECT sum(length) FROM chunks))", (len(chunks),))
        conn.executemany("INSERT INTO versions VALUES (?, ?)", versions.items())
        conn.execute(f"PRAGMA user_version = {1000 + ANALYZER_VERSION}")


def test_a_format_1_file_is_converted_in_place(tmp_path):
    chunks = [(i, text, meta("a.txt" if i < "f" else "b.txt", lang, "2021")) for i, (text, lang) in CORPUS.items()]
    chunks.append(("empty", "", meta("b.txt")))
    versions = {"a.txt": "v1", "b.txt": "v2"}
    with KeywordIndex(tmp_path / "fresh.sqlite3") as fresh:
        fresh.sync_from(chunks, versions=versions)
        with sqlite3.connect(fresh.path) as conn:
            digests = dict(conn.execute("SELECT id, digest FROM chunks"))
        path = tmp_path / "format1.sqlite3"
        write_format_1(path, chunks, digests, versions)
        with KeywordIndex(path) as idx:
            assert idx.ids() == fresh.ids() and idx.count() == len(chunks)
            assert idx.versions() == versions
            for query in QUERIES:
                for filters in ({}, {"sources": ["b.txt"]}, {"date_from": "2021"}):
                    got, want = idx.search(query, 10, **filters), fresh.search(query, 10, **filters)
                    assert dict(got) == pytest.approx(dict(want), rel=1e-12)
            assert idx.sync_from(chunks, versions=versions) == (0, 0)  # nothing to re-analyse
            idx.add(["new"], ["Un chat nouveau."], [meta("b.txt")])
            assert idx.search("nouveau", 5)[0][0] == "new"
    check_consistent(path)
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {t for t in tables if not t.startswith("terms_")} == {"chunks", "terms", "versions"}
