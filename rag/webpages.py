"""Web pages added by URL, kept in the collection's folder so that their citations never depend
on the page as it is online now: ``web/<hash of the URL>/`` holds one file per version fetched
(``<version>.json``: the page's main text, title, date, and the server's ETag and
Last-Modified; the version is the hash of that text, so a page whose markup alone changed is
unchanged) and ``kept.json``, naming the version the index holds. The URL is the document's
source; the indexer keeps a version once the store has committed it, and forgets the folder
with the document."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from ingest.loaders import LoadedDocument, LoadError
from ingest.web import Limits, fetch, page_document

KEPT = "kept.json"


class WebPages:
    def __init__(self, root: Path, limits: Limits):
        self.root, self.limits = Path(root), limits

    def folder(self, url: str) -> Path:
        return self.root / hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]

    def fetch(self, url: str, hosts: tuple[str, ...] | None = None) -> str:
        """Fetch ``url`` (a normalized URL) again, asking only for a change since the kept
        version; the version now online, whose copy is then stored. With ``hosts``, only those
        hosts may be reached. Raises ``LoadError``."""
        kept = self._read(url, self.version(url))
        page = fetch(url, replace(self.limits, hosts=hosts), etag=kept and kept["etag"],
                     last_modified=kept and kept["last_modified"])
        if page is None:  # 304 Not Modified
            if kept is None:
                raise LoadError(url, "the server answered 304 Not Modified to a first request")
            return self.version(url)
        doc = page_document(page)
        record = {"url": url, "final_url": page.final_url, "etag": page.etag,
                  "last_modified": page.last_modified, "title": doc.title, "date": doc.date,
                  "language": doc.language, "text": doc.text}
        version = hashlib.sha256(json.dumps([doc.title, doc.date, doc.text]).encode("utf-8")).hexdigest()
        self._write(self.folder(url) / f"{version}.json", record)
        return version

    def version(self, url: str) -> str | None:
        """The version the index holds (None: none kept)."""
        try:
            return json.loads((self.folder(url) / KEPT).read_text("utf-8"))["version"]
        except (OSError, ValueError, KeyError):
            return None

    def document(self, url: str, version: str | None = None) -> LoadedDocument:
        """The stored copy of ``version`` (default: the kept one) as a loaded document."""
        record = self._read(url, version or self.version(url))
        if record is None:
            raise LoadError(url, "no stored copy of this web page (`rag ingest URL` fetches it)")
        return LoadedDocument(source=url, text=record["text"], title=record["title"], date=record["date"],
                              pages=None, language=record["language"])

    def keep(self, url: str, version: str) -> None:
        """Make ``version`` the one the index holds, and delete the others."""
        folder = self.folder(url)
        self._write(folder / KEPT, {"url": url, "version": version})
        for path in folder.glob("*.json"):
            if path.name not in (KEPT, f"{version}.json"):
                path.unlink(missing_ok=True)

    def discard(self, url: str, version: str) -> None:
        """Delete a fetched version that was not indexed (unless it is the kept one)."""
        if version != self.version(url):
            (self.folder(url) / f"{version}.json").unlink(missing_ok=True)

    def forget(self, url: str) -> None:
        shutil.rmtree(self.folder(url), ignore_errors=True)

    def _read(self, url: str, version: str | None) -> dict | None:
        if version is None:
            return None
        try:
            return json.loads((self.folder(url) / f"{version}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    @staticmethod
    def _write(path: Path, record: dict) -> None:
        """Write through a temporary file renamed over ``path``: a crash leaves the old file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
