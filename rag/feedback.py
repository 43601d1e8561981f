"""Users' feedback as an evaluation set: ``rag feedback export DIR`` writes ``DIR/questions.jsonl``
and ``DIR/docs/`` in the ``rag eval`` format (``rag.evaluate``), so real users' questions become
a regression set (``rag eval DIR``).

- A thumbs-up answer: its question, the quotes it cited from its first cited document as the
  gold ``answers``, that document as ``source``; an abstention approved is ``impossible``.
- A thumbs-down answer (``--rating down`` or ``all``): the question with no gold yet
  (``answers: []``, ``review: true``), to be written by a person before it is evaluated.

Each line keeps the rating, the comment, the collection and the answer given. The cited
documents are copied into ``docs/`` (two of one name get distinct names); a question whose
document no longer exists is left out and reported."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .conversations import Feedback
from .errors import UsageError


@dataclass
class Exported:
    questions: int = 0
    documents: int = 0
    missing: list[str] = field(default_factory=list)
    """The sources of left-out questions: their files are gone."""


def export(feedback: list[Feedback], folder: Path, ratings: tuple[str, ...] = ("up",)) -> Exported:
    """Write the feedback of the given ``ratings`` to ``folder`` (new, or empty) as an
    evaluation set."""
    if Path(folder).exists() and any(Path(folder).iterdir()):
        raise UsageError(f"{folder} is not empty: export into a new folder (nothing there is overwritten)")
    docs = Path(folder) / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    copied: dict[str, str] = {}  # source path -> its name in docs/
    result, lines = Exported(), []
    for given in feedback:
        if given.rating not in ratings:
            continue
        citations = given.answer.get("citations", [])
        first = citations[0]["source"] if citations else None
        if first is not None and first not in copied:
            if not Path(first).is_file():
                result.missing.append(first)
                continue
            copied[first] = _copy(Path(first), docs, set(copied.values()))
        lines.append(_item(given, copied.get(first), [c["quote"] for c in citations if c["source"] == first]))
    (Path(folder) / "questions.jsonl").write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    result.questions, result.documents = len(lines), len(copied)
    return result


def _item(given: Feedback, source: str | None, quotes: list[str]) -> dict:
    approved = given.rating == "up"
    item = {"id": f"feedback-{given.conversation}-{given.turn}", "question": given.question,
            "answers": list(dict.fromkeys(quotes)) if approved else [], "source": source,
            "impossible": approved and bool(given.answer.get("abstained"))}
    if not approved:
        item["review"] = True
    return item | {"rating": given.rating, "comment": given.comment, "collection": given.collection,
                   "given_answer": given.answer.get("text", "")}


def _copy(source: Path, docs: Path, taken: set[str]) -> str:
    name, n = source.name, 1
    while name in taken:
        n += 1
        name = f"{source.stem}-{n}{source.suffix}"
    shutil.copy2(source, docs / name)
    return name
