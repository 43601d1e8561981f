"""Persistent BM25 keyword index in SQLite FTS5, kept in step with the vector store.

Layout (one SQLite file, WAL mode):

* ``chunks``   one row per chunk: text id, source, date, language rules, and a digest of what
               was indexed (to detect changed chunks when repairing).
* ``terms``    an FTS5 table whose rowid is the chunk's rowid; its column ``analysed`` holds the
               chunk's terms as ``textproc.analyze`` made them (stop words dropped, stemmed,
               accents folded), joined by spaces. Its ``ascii`` tokenizer splits on ASCII
               non-alphanumerics only, and analysed terms hold none, so FTS5 indexes exactly
               those terms; it keeps N, the chunk lengths and the document frequencies itself.
* ``versions`` source -> the version of it that is indexed (an opaque string from the caller,
               e.g. its content hash), to tell which sources differ from another copy.

Every write (add, delete, replace) updates the tables in one transaction. Scoring is FTS5's
``bm25()`` (k1 = 1.2, b = 0.75; it returns minus the score, lower is better): its idf is
``log((N - df + 0.5) / (df + 0.5))``, floored at 1e-6, so a term in half the chunks or more
counts for (almost) nothing. It replaced BM25 computed in SQL over tables of terms and
postings (format 1, converted in place when opened): on PIAF dev the fused retriever's hit@5
was the same (0.924 against 0.923, 3,901 questions) and at 100k chunks search p50 was 0.87x,
adding 2.4x as fast, the file 0.56x the size (``bench/keyword_bench.py`` while both were in
the tree: ``git log -- vectorstore/keyword_fts5.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import groupby, islice
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from .textproc import ANALYZER_VERSION, analyze, rules_for

log = logging.getLogger(__name__)

_SCHEMA_VERSION = 2
# Stored in PRAGMA user_version: a file written with other tables or other analysis is reset
# (but for format 1, converted).
_VERSION = _SCHEMA_VERSION * 1000 + ANALYZER_VERSION
_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")

_SCHEMA = (
    """CREATE TABLE chunks (
        rid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        date TEXT,
        language TEXT NOT NULL,
        digest BLOB NOT NULL)""",
    "CREATE INDEX chunks_source ON chunks(source)",
    "CREATE VIRTUAL TABLE terms USING fts5(analysed, tokenize = 'ascii')",
    "CREATE TABLE IF NOT EXISTS versions (source TEXT PRIMARY KEY, version TEXT NOT NULL)",
)
# Format 1: BM25 computed in SQL over tables of terms and postings, with the same analysis.
_FORMAT_1 = 1000 + ANALYZER_VERSION

_JSON_IDS = "SELECT value FROM json_each(?)"
_JSON_SOURCES = "SELECT value FROM json_each(:sources)"


class _Doc(NamedTuple):
    id: str
    source: str
    date: str | None
    language: str
    digest: bytes
    terms: str


class _Meta(NamedTuple):
    source: str
    date: str | None
    language: str


def _check_date(value: object, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError(f"{what} must be 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD', got {value!r}")
    return value


def _meta(meta: Mapping, source: str | None) -> _Meta:
    got = meta.get("source", source)
    if not isinstance(got, str) or not got:
        raise ValueError(f"metadata needs a non-empty 'source', got {got!r}")
    if source is not None and got != source:
        raise ValueError(f"metadata source {got!r} differs from {source!r}")
    return _Meta(got, _check_date(meta.get("date"), "metadata 'date'"), rules_for(meta.get("language")))


def _digest(text: str, meta: _Meta) -> bytes:
    key = "\0".join((meta.source, meta.date or "", meta.language, text))
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _prepare(ids: list[str], texts: list[str], metadatas: list[Mapping], source: str | None = None) -> list[_Doc]:
    """Validate and analyze a batch, outside any transaction (analysis is the slow part)."""
    if not len(ids) == len(texts) == len(metadatas):
        raise ValueError(f"ids, texts and metadatas differ in length: {len(ids)}, {len(texts)}, {len(metadatas)}")
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate ids in one batch")
    docs = []
    for chunk_id, text, raw in zip(ids, texts, metadatas):
        if not isinstance(chunk_id, str) or not chunk_id:
            raise ValueError(f"chunk ids must be non-empty strings, got {chunk_id!r}")
        meta = _meta(raw, source)
        terms = " ".join(analyze(text, meta.language))
        docs.append(_Doc(chunk_id, meta.source, meta.date, meta.language, _digest(text, meta), terms))
    return docs


def _match(terms: list[str]) -> str:
    """An FTS5 query for any of `terms`, each quoted ('and', 'or', 'not', 'near' are terms here)."""
    return " OR ".join(f'"{term}"' for term in terms)


def _convert_format_1(conn: sqlite3.Connection) -> None:
    """Rewrite a file of format 1 in place: each chunk's terms come from its postings (in
    another order: bm25() does not use positions), so the index keeps its chunks, versions and
    scores without its texts, which it does not hold, being analysed again."""
    conn.execute("ALTER TABLE terms RENAME TO terms_1")
    for statement in _SCHEMA[2:]:
        conn.execute(statement)
    postings = conn.execute(
        "SELECT p.rid, t.term, p.tf FROM postings p JOIN terms_1 t USING (tid) ORDER BY p.rid, p.tid"
    )
    conn.executemany(
        "INSERT INTO terms (rowid, analysed) VALUES (?, ?)",
        ((rid, " ".join(" ".join([term] * tf) for _, term, tf in group))
         for rid, group in groupby(postings, key=itemgetter(0))),
    )
    conn.execute("INSERT INTO terms (rowid, analysed) SELECT rid, '' FROM chunks WHERE length = 0")
    conn.execute("ALTER TABLE chunks DROP COLUMN length")
    conn.execute("ALTER TABLE chunks DROP COLUMN terms")
    for table in ("terms_1", "postings", "stats"):
        conn.execute(f"DROP TABLE {table}")


def _drop_all(conn: sqlite3.Connection) -> None:
    """Drop every table of a file in another format (virtual ones first: they drop their shadows)."""
    rows = conn.execute("SELECT name, sql LIKE 'CREATE VIRTUAL%' FROM sqlite_master WHERE type = 'table'")
    for name, _ in sorted(rows.fetchall(), key=lambda row: not row[1]):
        if not name.startswith("sqlite_") and conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone():
            conn.execute(f'DROP TABLE "{name}"')


class KeywordIndex:
    """BM25 over chunks, persisted in one SQLite file; safe across threads and processes."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        self._pool: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        with self._transaction("BEGIN IMMEDIATE") as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == _FORMAT_1:
                log.info("%s: converting the keyword index to FTS5", self.path)
                _convert_format_1(conn)
            elif version != _VERSION:
                if version:
                    log.warning("%s: index format %s != %s, resetting it", self.path, version, _VERSION)
                    _drop_all(conn)
                for statement in _SCHEMA:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_VERSION}")

    # -- connections and transactions ------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA cache_size = -32768")
        return conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        """A pooled connection inside BEGIN ... COMMIT (ROLLBACK on any error)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"KeywordIndex {self.path} is closed")
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self._connect()
            with self._lock:
                self._all.append(conn)
        try:
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # some errors (e.g. disk full) already rolled back
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            with self._lock:
                self._pool.append(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._pool.clear()

    def __enter__(self) -> KeywordIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writes -----------------------------------------------------------------------

    def add(self, ids: list[str], texts: list[str], metadatas: list[Mapping]) -> None:
        """Index chunks; ids already present are replaced."""
        docs = _prepare(ids, texts, metadatas)
        with self._transaction("BEGIN IMMEDIATE") as conn:
            self._insert(conn, docs)

    def delete(self, ids: list[str]) -> int:
        """Remove chunks by id (unknown ids are ignored); returns how many were removed."""
        with self._transaction("BEGIN IMMEDIATE") as conn:
            rows = conn.execute(f"SELECT rid FROM chunks WHERE id IN ({_JSON_IDS})", (json.dumps(ids),))
            return self._remove(conn, [rid for (rid,) in rows.fetchall()])

    def delete_where_source(self, source: str) -> int:
        with self._transaction("BEGIN IMMEDIATE") as conn:
            conn.execute("DELETE FROM versions WHERE source = ?", (source,))
            return self._remove(conn, self._source_rows(conn, source))

    def replace_source(self, source: str, ids: list[str], texts: list[str], metadatas: list[Mapping],
                       *, version: str | None = None) -> None:
        """``replace_sources`` for one source, from parallel lists; a metadata without 'source'
        gets `source`, one with another source is an error. On any error nothing changes."""
        if not len(ids) == len(texts) == len(metadatas):
            raise ValueError(f"ids, texts and metadatas differ in length: {len(ids)}, {len(texts)}, {len(metadatas)}")
        self.replace_sources({source: version}, zip(ids, texts, ({"source": source, **m} for m in metadatas)))

    def replace_sources(self, versions: Mapping[str, str | None],
                        items: Iterable[tuple[str, str, Mapping]], *, batch_size: int = 1000) -> None:
        """In one transaction, drop every chunk of the sources in `versions` (source -> the
        version to record, None: unknown) and index `items` (id, text, metadata), each of one
        of those sources. The items are read and analysed a batch at a time inside the
        transaction, so any number of them takes bounded memory; readers are not blocked
        meanwhile (WAL). On any error nothing changes."""
        with self._transaction("BEGIN IMMEDIATE") as conn:
            for source in versions:
                self._remove(conn, self._source_rows(conn, source))
            stream = iter(items)
            while batch := list(islice(stream, batch_size)):
                ids, texts, metadatas = zip(*batch)
                docs = _prepare(list(ids), list(texts), list(metadatas))
                unknown = {d.source for d in docs} - versions.keys()
                if unknown:
                    raise ValueError(f"chunks of sources not being replaced: {sorted(unknown)}")
                self._insert(conn, docs)
            for source, version in versions.items():
                self._set_version(conn, source, version)

    def versions(self, sources: Iterable[str] | None = None) -> dict[str, str | None]:
        """Every source with chunks or a recorded version -> its recorded version; None when
        unknown, or when its chunks are gone (deleted by id). With ``sources``: those of them
        that have a recorded version."""
        with self._transaction("BEGIN") as conn:
            if sources is not None:
                rows = conn.execute(
                    f"""SELECT v.source, CASE WHEN EXISTS (SELECT 1 FROM chunks c WHERE c.source = v.source)
                    THEN v.version END FROM versions v WHERE v.source IN ({_JSON_IDS})""",
                    (json.dumps(list(sources)),),
                )
                return dict(rows.fetchall())
            rows = conn.execute(
                """SELECT s.source, CASE WHEN EXISTS (SELECT 1 FROM chunks c WHERE c.source = s.source)
                THEN v.version END FROM (SELECT DISTINCT source FROM chunks UNION SELECT source FROM versions) s
                LEFT JOIN versions v ON v.source = s.source"""
            )
            return dict(rows.fetchall())

    def sync_from(self, items: Iterable[tuple[str, str, Mapping]], *, batch_size: int = 1000,
                  versions: Mapping[str, str] | None = None) -> tuple[int, int]:
        """Make the index hold exactly `items` (id, text, metadata), e.g. after a crash, and,
        when given, exactly `versions` (source -> version) as the recorded versions.

        Only missing or changed chunks are analyzed and written, in batches; chunks absent
        from `items` are deleted. Returns (chunks written, chunks deleted).
        """
        with self._transaction("BEGIN") as conn:
            current = dict(conn.execute("SELECT id, digest FROM chunks").fetchall())
        seen: set[str] = set()
        pending: dict[str, tuple[str, Mapping]] = {}
        written = 0
        for chunk_id, text, meta in items:
            seen.add(chunk_id)
            if current.get(chunk_id) != _digest(text, _meta(meta, None)):
                pending[chunk_id] = (text, meta)
            if len(pending) >= batch_size:
                written += self._add_pending(pending)
        written += self._add_pending(pending)
        extra = [chunk_id for chunk_id in current if chunk_id not in seen]
        deleted = sum(self.delete(extra[i : i + batch_size]) for i in range(0, len(extra), batch_size))
        if versions is not None:
            with self._transaction("BEGIN IMMEDIATE") as conn:
                conn.execute("DELETE FROM versions")
                conn.executemany("INSERT INTO versions VALUES (?, ?)", versions.items())
        return written, deleted

    def _add_pending(self, pending: dict[str, tuple[str, Mapping]]) -> int:
        if pending:
            ids = list(pending)
            self.add(ids, [pending[i][0] for i in ids], [pending[i][1] for i in ids])
            pending.clear()
            return len(ids)
        return 0

    @staticmethod
    def _set_version(conn: sqlite3.Connection, source: str, version: str | None) -> None:
        if version is None:
            conn.execute("DELETE FROM versions WHERE source = ?", (source,))
        else:
            conn.execute("INSERT OR REPLACE INTO versions VALUES (?, ?)", (source, version))

    @staticmethod
    def _source_rows(conn: sqlite3.Connection, source: str) -> list[int]:
        return [rid for (rid,) in conn.execute("SELECT rid FROM chunks WHERE source = ?", (source,))]

    @staticmethod
    def _insert(conn: sqlite3.Connection, docs: list[_Doc]) -> None:
        if not docs:
            return
        ids = json.dumps([d.id for d in docs])
        existing = conn.execute(f"SELECT rid FROM chunks WHERE id IN ({_JSON_IDS})", (ids,))
        KeywordIndex._remove(conn, [rid for (rid,) in existing.fetchall()])
        rows = []
        for doc in docs:
            rid = conn.execute(
                "INSERT INTO chunks (id, source, date, language, digest) VALUES (?, ?, ?, ?, ?)",
                (doc.id, doc.source, doc.date, doc.language, doc.digest),
            ).lastrowid
            rows.append((rid, doc.terms))
        conn.executemany("INSERT INTO terms (rowid, analysed) VALUES (?, ?)", rows)

    @staticmethod
    def _remove(conn: sqlite3.Connection, rids: list[int]) -> int:
        if not rids:
            return 0
        conn.executemany("DELETE FROM terms WHERE rowid = ?", ((rid,) for rid in rids))
        conn.execute(f"DELETE FROM chunks WHERE rid IN ({_JSON_IDS})", (json.dumps(rids),))
        return len(rids)

    # -- reads ------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int,
        *,
        sources: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        language: str | None = None,
    ) -> list[tuple[str, float]]:
        """Top `k` (id, BM25 score), best first.

        The query is analyzed with `language`'s rules when it is known, else with both French
        and English rules (union of terms: the other language's stems and stop words are noise
        when the language is known, e.g. French 'de', 'la' kept by English rules); each
        chunk was analyzed with its own language's rules. `sources` restricts to those
        sources. A date filter keeps chunks whose date period overlaps [date_from, date_to]
        (compared on the common prefix: a chunk dated '2021' passes date_from='2021-06');
        chunks without a date are then excluded.
        """
        date_from = _check_date(date_from, "date_from")
        date_to = _check_date(date_to, "date_to")
        languages = [language] if language else ["fr", "en"]
        terms = sorted({term for lang in languages for term in analyze(query, lang)})
        if k <= 0 or not terms or sources == []:
            return []
        params: dict[str, object] = {"q": _match(terms), "k": k}
        restrict = ""
        if sources is not None:  # usually selective: checked on each match before it is scored
            # (the unary + keeps the IN a filter: as a constraint on FTS5's rowid, SQLite would
            # run the whole query once per chunk of the sources)
            restrict = f"AND +t.rowid IN (SELECT rid FROM chunks WHERE source IN ({_JSON_SOURCES}))"
            params["sources"] = json.dumps(sources)
        dates = []  # usually broad: checked on each match through a join
        if date_from is not None:
            dates.append("substr(c.date, 1, length(:date_from)) >= substr(:date_from, 1, length(c.date))")
            params["date_from"] = date_from
        if date_to is not None:
            dates.append("substr(c.date, 1, length(:date_to)) <= substr(:date_to, 1, length(c.date))")
            params["date_to"] = date_to
        # ORDER BY two terms: SQLite sorts, and asks FTS5 for the rank of the matches that pass
        # the filters only.
        if dates:
            sql = f"""SELECT c.id, -t.rank FROM terms t JOIN chunks c ON c.rid = t.rowid
                WHERE t.terms MATCH :q {restrict} AND {' AND '.join(dates)} ORDER BY t.rank, t.rowid LIMIT :k"""
        else:
            sql = f"""SELECT c.id, -t.score FROM (SELECT t.rowid AS rid, t.rank AS score FROM terms t
                WHERE t.terms MATCH :q {restrict} ORDER BY t.rank, t.rowid LIMIT :k) t
                JOIN chunks c ON c.rid = t.rid ORDER BY t.score, t.rid"""
        with self._transaction("BEGIN") as conn:
            return conn.execute(sql, params).fetchall()

    def ids(self) -> set[str]:
        with self._transaction("BEGIN") as conn:
            return {row[0] for row in conn.execute("SELECT id FROM chunks")}

    def count(self) -> int:
        with self._transaction("BEGIN") as conn:
            return conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
