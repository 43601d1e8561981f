"""Persistent BM25 keyword index in SQLite, kept in step with the vector store.

Layout (one SQLite file, WAL mode):

* ``chunks``   one row per chunk: text id, source, date, language rules, length in terms,
               a digest of what was indexed (to detect changed chunks when repairing),
               and the chunk's term ids (so deleting a chunk needs no reverse index).
* ``terms``    term -> term id and document frequency.
* ``postings`` (term id, chunk rowid) -> term frequency and the chunk length, clustered by
               term id (WITHOUT ROWID), so a query term's postings are one range scan and
               scoring needs no join.
* ``stats``    N and the total length, for avgdl.
* ``versions`` source -> the version of it that is indexed (an opaque string from the caller,
               e.g. its content hash), to tell which sources differ from another copy.

Every write (add, delete, replace) updates the tables in one transaction; scoring is
one SQL statement that aggregates BM25 in SQLite, so nothing is rebuilt per query.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sqlite3
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import islice, repeat
from pathlib import Path
from typing import NamedTuple

from .textproc import ANALYZER_VERSION, analyze, rules_for

log = logging.getLogger(__name__)

K1 = 1.2
B = 0.75
_SCHEMA_VERSION = 1
# Stored in PRAGMA user_version: a file written with other tables or other analysis is reset.
_VERSION = _SCHEMA_VERSION * 1000 + ANALYZER_VERSION
_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")
_TABLES = ("chunks", "terms", "postings", "stats", "versions")

_SCHEMA = (
    """CREATE TABLE chunks (
        rid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        date TEXT,
        language TEXT NOT NULL,
        length INTEGER NOT NULL,
        digest BLOB NOT NULL,
        terms BLOB NOT NULL)""",
    "CREATE INDEX chunks_source ON chunks(source)",
    "CREATE TABLE terms (tid INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE, df INTEGER NOT NULL)",
    """CREATE TABLE postings (
        tid INTEGER NOT NULL,
        rid INTEGER NOT NULL,
        tf INTEGER NOT NULL,
        dl INTEGER NOT NULL,
        PRIMARY KEY (tid, rid)) WITHOUT ROWID""",
    """CREATE TABLE stats (
        one INTEGER PRIMARY KEY CHECK (one = 0),
        n INTEGER NOT NULL,
        total_length INTEGER NOT NULL)""",
    "INSERT INTO stats VALUES (0, 0, 0)",
)
# Added after version 1 without a version change: created in files that lack it.
_VERSIONS_TABLE = "CREATE TABLE IF NOT EXISTS versions (source TEXT PRIMARY KEY, version TEXT NOT NULL)"

_JSON_IDS = "SELECT value FROM json_each(?)"
_JSON_SOURCES = "SELECT value FROM json_each(:sources)"
_UPSERT_TERMS = """
    INSERT INTO terms (term, df) SELECT key, value FROM json_each(?) WHERE true
    ON CONFLICT (term) DO UPDATE SET df = df + excluded.df
    RETURNING term, tid"""
_QUERY_TERMS = "WITH q(tid, w) AS (SELECT value ->> 0, value ->> 1 FROM json_each(:q))"  # SQLite >= 3.38
_SCORE = "SUM(q.w * p.tf / (p.tf + :norm + :slope * p.dl))"


class _Doc(NamedTuple):
    id: str
    source: str
    date: str | None
    language: str
    digest: bytes
    tf: Counter[str]


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
        tf = Counter(analyze(text, meta.language))
        docs.append(_Doc(chunk_id, meta.source, meta.date, meta.language, _digest(text, meta), tf))
    return docs


def _idf(n: int, df: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


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
            if version != _VERSION:
                if version:
                    log.warning("%s: index format %s != %s, resetting it", self.path, version, _VERSION)
                    for table in _TABLES:
                        conn.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {_VERSION}")
            conn.execute(_VERSIONS_TABLE)

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
            rows = conn.execute(f"SELECT rid, terms, length FROM chunks WHERE id IN ({_JSON_IDS})", (json.dumps(ids),))
            return self._remove(conn, rows.fetchall())

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
    def _source_rows(conn: sqlite3.Connection, source: str) -> list[tuple[int, bytes, int]]:
        return conn.execute("SELECT rid, terms, length FROM chunks WHERE source = ?", (source,)).fetchall()

    @staticmethod
    def _insert(conn: sqlite3.Connection, docs: list[_Doc]) -> None:
        if not docs:
            return
        existing = conn.execute(
            f"SELECT rid, terms, length FROM chunks WHERE id IN ({_JSON_IDS})", (json.dumps([d.id for d in docs]),)
        )
        KeywordIndex._remove(conn, existing.fetchall())
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(doc.tf.keys())
        tids = dict(conn.execute(_UPSERT_TERMS, (json.dumps(df),)).fetchall())
        postings = []
        total = 0
        for doc in docs:
            length = doc.tf.total()
            total += length
            doc_tids = array("i", [tids[term] for term in doc.tf])
            rid = conn.execute(
                "INSERT INTO chunks (id, source, date, language, length, digest, terms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (doc.id, doc.source, doc.date, doc.language, length, doc.digest, doc_tids.tobytes()),
            ).lastrowid
            postings.extend(zip(doc_tids, repeat(rid), doc.tf.values(), repeat(length)))
        postings.sort()  # clustered (tid, rid) b-tree: in-order inserts touch fewer pages
        conn.executemany("INSERT INTO postings (tid, rid, tf, dl) VALUES (?, ?, ?, ?)", postings)
        conn.execute("UPDATE stats SET n = n + ?, total_length = total_length + ?", (len(docs), total))

    @staticmethod
    def _remove(conn: sqlite3.Connection, rows: list[tuple[int, bytes, int]]) -> int:
        if not rows:
            return 0
        pairs = []
        df: Counter[int] = Counter()
        for rid, blob, _ in rows:
            doc_tids = array("i")
            doc_tids.frombytes(blob)
            pairs.extend(zip(doc_tids, repeat(rid)))
            df.update(doc_tids)
        pairs.sort()
        conn.executemany("DELETE FROM postings WHERE tid = ? AND rid = ?", pairs)
        conn.executemany("UPDATE terms SET df = df - ? WHERE tid = ?", ((n, tid) for tid, n in df.items()))
        conn.execute(f"DELETE FROM terms WHERE df <= 0 AND tid IN ({_JSON_IDS})", (json.dumps(list(df)),))
        conn.execute(f"DELETE FROM chunks WHERE rid IN ({_JSON_IDS})", (json.dumps([row[0] for row in rows]),))
        removed = sum(row[2] for row in rows)
        conn.execute("UPDATE stats SET n = n - ?, total_length = total_length - ?", (len(rows), removed))
        return len(rows)

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
        with self._transaction("BEGIN") as conn:
            n, total = conn.execute("SELECT n, total_length FROM stats").fetchone()
            dfs = conn.execute(f"SELECT tid, df FROM terms WHERE term IN ({_JSON_IDS})", (json.dumps(terms),))
            weights = [(tid, _idf(n, df) * (K1 + 1)) for tid, df in dfs.fetchall()]
            if not weights:
                return []
            avgdl = total / n
            params = {"q": json.dumps(weights), "norm": K1 * (1 - B), "slope": K1 * B / avgdl, "k": k}
            restrict = ""
            if sources is not None:  # usually selective: restrict postings before grouping
                restrict = f"AND p.rid IN (SELECT rid FROM chunks WHERE source IN ({_JSON_SOURCES}))"
                params["sources"] = json.dumps(sources)
            dates = []  # usually broad: checked on the grouped candidates only
            if date_from is not None:
                dates.append("substr(c.date, 1, length(:date_from)) >= substr(:date_from, 1, length(c.date))")
                params["date_from"] = date_from
            if date_to is not None:
                dates.append("substr(c.date, 1, length(:date_to)) <= substr(:date_to, 1, length(c.date))")
                params["date_to"] = date_to
            scored = f"""SELECT p.rid AS rid, {_SCORE} AS score
                FROM q CROSS JOIN postings p ON p.tid = q.tid {restrict} GROUP BY p.rid"""
            if dates:
                sql = f"""{_QUERY_TERMS} SELECT c.id, s.score FROM ({scored}) s JOIN chunks c ON c.rid = s.rid
                    WHERE {' AND '.join(dates)} ORDER BY s.score DESC, s.rid LIMIT :k"""
            else:
                sql = f"""{_QUERY_TERMS} SELECT c.id, s.score FROM ({scored} ORDER BY score DESC, p.rid LIMIT :k) s
                    JOIN chunks c ON c.rid = s.rid ORDER BY s.score DESC, s.rid"""
            return conn.execute(sql, params).fetchall()

    def ids(self) -> set[str]:
        with self._transaction("BEGIN") as conn:
            return {row[0] for row in conn.execute("SELECT id FROM chunks")}

    def count(self) -> int:
        with self._transaction("BEGIN") as conn:
            return conn.execute("SELECT n FROM stats").fetchone()[0]
