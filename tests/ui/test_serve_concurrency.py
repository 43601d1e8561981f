"""Questions never wait for an ingest: 32 chat requests at once about the villes-fr towns (uploaded
first), while an upload of 150 files is being indexed by the same server, all succeed, each with
its own question's citations."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import EVAL, wait_until
from tests.ui.conftest import HTTP


def _questions() -> list[dict]:
    lines = (EVAL / "villes-fr" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [q for q in map(json.loads, lines) if not q["impossible"]]


def _cited(completion) -> set[str]:
    return {c["source"].rsplit("/", 1)[-1] for c in completion.choices[0].message.model_extra["rag"]["citations"]}


def _files(n: int) -> list:
    harbours = sorted((EVAL / "harbours-en" / "docs").glob("*.txt"))
    return [("files", (f"harbour-{i:03d}.txt",
                       harbours[i % len(harbours)].read_bytes() + f"\n\nCopy number {i}.\n".encode(), "text/plain"))
            for i in range(n)]


@pytest.mark.slow  # a 150-file ingest under 32 concurrent questions: minutes on 2 cores
def test_32_questions_at_once_during_an_ingest(served):
    from openai import OpenAI

    client = OpenAI(base_url=f"{served.url}/v1", api_key=served.key, max_retries=0)

    def ask(question: str):
        return client.chat.completions.create(model="rag-cite", messages=[{"role": "user", "content": question}])

    towns = [("files", (f.name, f.read_bytes(), "text/plain"))
             for f in sorted((EVAL / "villes-fr" / "docs").glob("*.txt"))]
    added = HTTP.post(f"{served.url}/api/documents", files=towns, headers=served.headers(), timeout=600)
    assert len(added.json()["added"]) == len(towns)
    # the questions whose answer, asked alone, cites the town's own article
    questions = [q for q in _questions() if q["source"] in _cited(ask(q["question"]))]
    assert len(questions) >= 16
    asked = [questions[i % len(questions)] for i in range(32)]

    upload: dict = {}
    ingest = threading.Thread(target=lambda: upload.update(response=HTTP.post(
        f"{served.url}/api/documents", files=_files(150), headers=served.headers(), timeout=600)))
    ingest.start()
    wait_until(lambda: (served.data_dir / "write.pending").exists() or not ingest.is_alive(),
               what="the upload's ingest has started")
    assert ingest.is_alive(), "the ingest ended before the questions were asked"
    during = []

    def ask_during(question: str):
        completion = ask(question)
        during.append(ingest.is_alive())
        return completion

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(ask_during, [q["question"] for q in asked]))
    ingest.join()

    for q, completion in zip(asked, answers, strict=True):
        rag = completion.choices[0].message.model_extra["rag"]
        assert rag["query"] == q["question"] and not rag["abstained"]
        assert q["source"] in _cited(completion), (q["question"], _cited(completion))
    assert any(during), "no answer arrived while the ingest was running"
    report = upload["response"].json()
    assert upload["response"].status_code == 200 and len(report["added"]) == 150 and not report["failed"]
    for doc in HTTP.get(f"{served.url}/api/documents", headers=served.headers()).json():
        if "/uploads/" in doc["source"]:
            assert HTTP.delete(f"{served.url}/api/documents/{doc['id']}", headers=served.headers()).status_code == 200
