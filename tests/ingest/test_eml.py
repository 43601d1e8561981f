"""The .eml loader: every mail is written in the test with the standard library's own
``email.message.EmailMessage``."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from ingest.loaders import LoadError, load
from ingest.loaders.eml import NOT_A_MAIL


def mail(path: Path, *, html: str | None = None, attachments=(), **headers) -> Path:
    message = EmailMessage()
    for name, value in {"Subject": "Réunion du port", "From": "Anne Le Floc'h <anne@example.org>",
                        "To": "bob@example.org", "Date": "Tue, 14 Mar 2023 09:30:00 +0100", **headers}.items():
        if value is not None:
            message[name] = value
    message.set_content("Bonjour,\n\nLa réunion aura lieu jeudi à la capitainerie.\n")
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, data, maintype, subtype in attachments:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    path.write_bytes(bytes(message))
    return path


def reason(path: Path) -> str:
    with pytest.raises(LoadError) as error:
        load(path)
    return error.value.reason


def test_headers_then_the_plain_body_with_subject_as_title_and_date_header_as_date(tmp_path):
    doc = load(mail(tmp_path / "m.eml"))
    assert doc.text == ("Subject: Réunion du port\nFrom: Anne Le Floc'h <anne@example.org>\nTo: bob@example.org\n"
                        "Date: Tue, 14 Mar 2023 09:30:00 +0100\n\n"
                        "Bonjour,\n\nLa réunion aura lieu jeudi à la capitainerie.")
    assert (doc.title, doc.date, doc.language, doc.attachments) == ("Réunion du port", "2023-03-14", "fr", ())


def test_an_html_only_body_is_read_as_text(tmp_path):
    message = EmailMessage()
    message["Subject"] = "Lettre"
    message.set_content("<html><body><p>Le phare de <b>Kermorvan</b> rouvre.</p><script>x()</script></body></html>",
                        subtype="html")
    (tmp_path / "h.eml").write_bytes(bytes(message))
    assert load(tmp_path / "h.eml").text == "Subject: Lettre\n\nLe phare de Kermorvan rouvre."


def test_attachments_of_a_readable_type_are_handed_on_by_their_bare_name(tmp_path):
    doc = load(mail(tmp_path / "m.eml", attachments=[
        ("../../compte-rendu.txt", "La grue soulève quarante tonnes.".encode(), "text", "plain"),
        ("C:\\\\Temp\\\\notes.md", b"# Notes", "text", "markdown"),
        ("setup.exe", b"MZ", "application", "octet-stream")]))
    assert doc.attachments == (("compte-rendu.txt", "La grue soulève quarante tonnes.".encode()),
                               ("notes.md", b"# Notes"))
    assert "quarante" not in doc.text  # an attachment is its own document, not the mail's text


def test_a_bad_date_header_gives_no_date_and_no_subject_falls_back_to_the_first_line(tmp_path):
    doc = load(mail(tmp_path / "m.eml", Date="sometime in spring", Subject=None))
    assert doc.date is None and doc.title == "Bonjour,"  # the body's first line


def test_files_that_are_not_mails_are_refused_by_name(tmp_path):
    (tmp_path / "empty.eml").write_bytes(b"")
    assert reason(tmp_path / "empty.eml") == "empty file"
    (tmp_path / "plain.eml").write_text("Just some text, no headers at all.\n", encoding="utf-8")
    assert reason(tmp_path / "plain.eml") == NOT_A_MAIL
