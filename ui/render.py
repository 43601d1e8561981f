"""Pure helpers turning answers and documents into what the UI shows (HTML, table rows, JSON).

Everything that comes from a document or a question is HTML-escaped here; the only markup is ours.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

from ingest.web import is_url
from rag.errors import EXPECTED
from rag.types import Answer, source_name

CONTEXT_CHARS = 280
"""Characters of the source text shown on each side of a quoted span."""
WHOLE_TEXT_MAX_BYTES = 4 << 20
"""Files up to this size (one part of the text loader) have their whole text read once and
remembered for their citations; larger ones are read a window at a time."""

ABSTAINED_HTML = (
    '<div class="abstained" role="status"><strong>The documents do not contain the answer.</strong>'
    "<br>No sources: nothing in the indexed documents supports an answer to this question.</div>"
)
EMPTY_HTML = ('<div class="sources-empty">Ask a question: the passages its answer cites will '
              "appear here, with the quoted text highlighted.</div>")


def read_source_text(source: str, start: int = 0, end: int | None = None, rag=None) -> str | None:
    """The text a citation's offsets index (``rag.document_text``: for .txt/.md the file's
    decoded content, for PDF, DOCX and HTML the extracted text), or its ``[start:end]`` slice;
    a file's whole text is remembered per file version, unless the file is large (then only the
    slice is read, a part at a time); a web page's is the copy kept in ``rag``'s collection.
    None when the text cannot be read any more."""
    if is_url(source):
        try:
            return None if rag is None else rag.document_text(source, start, end)
        except Exception:  # no copy kept: the panel then shows the quote alone
            return None
    try:
        stat = Path(source).stat()
    except OSError:
        return None
    if stat.st_size > WHOLE_TEXT_MAX_BYTES:
        return _extracted_text(source, stat.st_size, stat.st_mtime_ns, start, end)
    text = _extracted_text(source, stat.st_size, stat.st_mtime_ns)
    return None if text is None else text[start:end]


@lru_cache(maxsize=32)
def _extracted_text(source: str, size: int, mtime_ns: int, start: int = 0,
                    end: int | None = None) -> str | None:
    from rag import document_text

    try:
        return document_text(source, start, end)
    except Exception:  # any unreadable file: the panel then shows the quote alone
        return None


def passage_parts(citation: dict, text: str | None = None, rag=None) -> tuple[str, str, str] | None:
    """(before, quote, after) around the citation's span, read from its file (or ``text``, the
    file's whole text); None when the file is unreadable or no longer holds the quote at those
    offsets."""
    start, end = citation["start"], citation["end"]
    first = max(0, start - CONTEXT_CHARS)
    if text is None:
        window = read_source_text(citation["source"], first, end + CONTEXT_CHARS + 1, rag)
    else:
        window = text[first : end + CONTEXT_CHARS + 1]
    if window is None or not 0 <= start <= end or window[start - first : end - first] != citation["quote"]:
        return None
    before, rest = window[: start - first], window[end - first :]
    after = rest[:CONTEXT_CHARS]
    if start > CONTEXT_CHARS:  # cut at a word boundary and say that text was cut
        cut = before.find(" ")
        before = "…" + (before[cut + 1:] if 0 <= cut < 40 else before)
    if len(rest) > CONTEXT_CHARS:
        cut = after.rfind(" ")
        after = (after[:cut] if cut > len(after) - 40 else after) + "…"
    return before, citation["quote"], after


def _citation_html(c: dict, rag=None) -> str:
    esc = html.escape
    meta = [f'<strong class="cite-title">{esc(c.get("title") or source_name(c["source"]))}</strong>']
    if c.get("date"):
        meta.append(f'<span class="cite-date">{esc(str(c["date"]))}</span>')
    meta.append(f'<code class="cite-file" title="{esc(c["source"])}">{esc(source_name(c["source"]))}'
                f':{c["start"]}-{c["end"]}</code>')
    if c.get("page"):
        meta.append(f'<span class="cite-page">page {esc(str(c["page"]))}</span>')
    parts = passage_parts(c, rag=rag)
    if parts is None:
        body = (f'<mark>{esc(c["quote"])}</mark><div class="cite-note">The file is unreadable or '
                "changed since it was indexed: showing the quote alone.</div>")
    else:
        before, quote, after = parts
        body = f"{esc(before)}<mark>{esc(quote)}</mark>{esc(after)}"
    return (f'<div class="cite" id="cite-{int(c["number"])}" data-number="{int(c["number"])}" '
            f'data-source="{esc(c["source"])}" data-start="{int(c["start"])}" '
            f'data-end="{int(c["end"])}">'
            f'<div class="cite-head"><span class="cite-num">[{int(c["number"])}]</span> '
            + " · ".join(meta) + f'</div><div class="cite-passage">{body}</div></div>')


def sources_html(answer: dict | None, question: str | None = None, rag=None) -> str:
    """The sources panel for one answer (as ``Answer.to_dict`` gives it); ``rag``: the answer's
    collection, which keeps the copies of its web pages."""
    if not answer:
        return EMPTY_HTML
    head = ""
    if question:
        head += f'<div class="sources-question">Sources for: <em>{html.escape(question)}</em></div>'
    if answer.get("query") and question is not None and answer["query"].strip() != question.strip():
        head += (f'<div class="sources-query">Searched for: <em>{html.escape(answer["query"])}'
                 "</em></div>")
    if answer.get("abstained") or not answer.get("citations"):
        return head + ABSTAINED_HTML
    return head + unsupported_html(answer) + "".join(_citation_html(c, rag) for c in answer["citations"])


def unsupported_html(answer: dict) -> str:
    """The answer's sentences that no passage supports, flagged (empty when there are none)."""
    if not answer.get("unsupported"):
        return ""
    items = "".join(f"<li>{html.escape(s)}</li>" for s in answer["unsupported"])
    return ('<div class="unsupported" role="note"><strong>⚠️ Not supported by the documents:'
            f"</strong> no source holds these sentences of the answer.<ul>{items}</ul></div>")


def chat_text(answer: Answer | dict) -> str:
    """The answer (or its ``to_dict()``, as saved) as the chat shows it: unsupported sentences are
    marked where they stand."""
    text, unsupported = ((answer["text"], answer["unsupported"]) if isinstance(answer, dict)
                         else (answer.text, answer.unsupported))
    for sentence in unsupported:
        text = text.replace(sentence, f"{sentence} ⚠️", 1)
    if unsupported:
        text += "\n\n⚠️ *Not supported by the documents.*"
    return text


def document_rows(docs) -> list[list]:
    """Rows of the documents table: title, date, chunks, file name, full path."""
    return [[d.title or "(untitled)", d.date or "", d.chunks, source_name(d.source), d.source]
            for d in docs]


def document_choices(docs) -> list[tuple[str, str]]:
    """Dropdown choices (label, path) for the ingested documents."""
    return [(f"{d.title or '(untitled)'} — {source_name(d.source)}", d.source) for d in docs]


def report_markdown(report, rejected: list[tuple[str, str]]) -> str:
    """A short summary of an ingestion, with every file that was not indexed and why."""
    esc = html.escape
    lines = [f"**Indexed:** {len(report.added)} added, {len(report.updated)} updated, "
             f"{len(report.unchanged)} unchanged ({report.chunks} chunks written)."]
    for path in report.added + report.updated:
        lines.append(f"- ✅ {esc(source_name(path))}")
    for name, reason in rejected + [(source_name(p), r) for p, r in report.failed]:
        lines.append(f"- ❌ {esc(name)}: {esc(reason)}")
    return "\n".join(lines)


def error_message(exc: Exception) -> str:
    """What a user is told of an error: an expected one's message (it says what to fix); of
    anything else only that it happened, the details staying in the server's log."""
    return str(exc) if isinstance(exc, EXPECTED) else f"internal error ({type(exc).__name__}), see the server log"
