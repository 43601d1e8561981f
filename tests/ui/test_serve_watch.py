"""`rag serve --watch DIR`: the server keeps the index in step with DIR while it serves."""

from __future__ import annotations

import shutil

from tests.conftest import NEWS_FR, wait_until

from .conftest import HTTP, Served


def test_a_file_dropped_in_a_watched_folder_is_served(tmp_path):
    folder = tmp_path / "watched"
    shutil.copytree(NEWS_FR, folder)  # there before the server: its start-up sync indexes it
    server = Served(tmp_path / "data", tmp_path / "serve.log", "--watch", str(folder))
    try:
        wait_until(server.ready, timeout=180, what="rag serve answers /api/health")

        def served() -> set[str]:
            listed = HTTP.get(f"{server.url}/api/documents", headers=server.headers()).json()
            return {d["source"] for d in listed}

        article = next(folder.iterdir())
        wait_until(lambda: str(article) in served(), timeout=120, what="the start-up sync")
        note = folder / "note.md"
        note.write_text("# Harbour log\n\nThe ferry to Groix leaves at seven.\n", encoding="utf-8")
        wait_until(lambda: str(note) in served(), timeout=120, what="the dropped file is listed")
        note.unlink()
        wait_until(lambda: str(note) not in served(), timeout=120, what="the deleted file is gone")
    finally:
        server.stop()
    log = server.log.read_text()  # one line per update, in the server's log
    assert "watch: start-up sync: indexed 1," in log and "watch: indexed 1, updated 0," in log
    assert "watch: indexed 0, updated 0, removed 1," in log
