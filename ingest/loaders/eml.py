"""E-mail (.eml, RFC 5322 with MIME): the headers that say who and when, then the body, read with
the standard library's ``email`` package; attachments are handed on to be indexed as documents
of their own.

The text is a header block (``Subject:``, ``From:``, ``To:``, ``Cc:``, ``Date:`` lines, those the
mail has) and the body, joined by a blank line; offsets index that text. The body is the
text/plain part, else the text of the text/html part (as ``html.py`` extracts it). Title: the
subject; date: the Date header's day (YYYY-MM-DD). Each attachment (a part with a file name,
not the body) whose type has a loader comes in ``attachments`` as (file name, bytes); the
indexer stores and indexes it as its own document.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePath

from ingest.language import detect_language
from ingest.loaders.base import LoadedDocument, LoadError, read_bytes, register, supported_suffixes
from ingest.loaders.text import cap_title, first_line

HEADERS = ("Subject", "From", "To", "Cc", "Date")
NOT_A_MAIL = "not an e-mail message (no headers)"
MAX_ATTACHMENTS = 50


@register((".eml",))
def load_eml(path: Path) -> LoadedDocument:
    """Load a mail; raises LoadError for unreadable, header-less or empty files."""
    data = read_bytes(path)
    if not data.strip():
        raise LoadError(path, "empty file")
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
        head = [f"{name}: {' '.join(str(message[name]).split())}" for name in HEADERS if message[name]]
        body = _body(message)
    except Exception:  # malformed MIME makes the email package raise many exception types
        raise LoadError(path, "corrupt e-mail message") from None
    if not head:
        raise LoadError(path, NOT_A_MAIL)
    text = "\n".join(head) + ("\n\n" + body if body else "")
    subject = " ".join(str(message["Subject"] or "").split())
    return LoadedDocument(
        source=str(path), text=text, title=cap_title(subject) if subject else first_line(body or text),
        date=_date(message), pages=None, language=detect_language(body or text),
        attachments=_attachments(path, message),
    )


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if part.get_content_subtype() == "html":
        from bs4 import BeautifulSoup

        from ingest.loaders.html import extract_blocks

        soup = BeautifulSoup(content, "lxml")
        return "\n\n".join(extract_blocks(soup.body or soup))
    return "\n".join(line.rstrip() for line in content.strip().splitlines())


def _date(message: EmailMessage) -> str | None:
    try:
        return parsedate_to_datetime(str(message["Date"])).date().isoformat() if message["Date"] else None
    except (TypeError, ValueError):
        return None


def _attachments(path: Path, message: EmailMessage) -> tuple[tuple[str, bytes], ...]:
    """(file name, bytes) of each attachment a loader can read, by its name's suffix; the name
    reduced to its last component (a name is never a path)."""
    found = []
    for part in message.iter_attachments():
        name = PurePath((part.get_filename() or "").replace("\\", "/")).name
        if not name or PurePath(name).suffix.lower() not in supported_suffixes():
            continue
        payload = part.get_payload(decode=True)
        if payload:
            found.append((name, payload))
    if len(found) > MAX_ATTACHMENTS:
        raise LoadError(path, f"{len(found)} attachments, over the {MAX_ATTACHMENTS} limit")
    return tuple(found)
