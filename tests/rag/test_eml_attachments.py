"""A mail and its attachments: the mail is cited with its subject and date, each attachment as a
document of its own stored in the data dir; a new version of the mail replaces its attachments,
and removing the mail removes them (documents and files). Real files, real Chroma, the real
model."""

from __future__ import annotations

from pathlib import Path

from tests.ingest.test_eml import mail

CRANE = ("compte-rendu.txt", "La nouvelle grue du quai sud soulève quarante tonnes.".encode(), "text", "plain")
LIGHT = ("phare.md", "# Le phare\n\nLe phare de Kermorvan est repeint en bleu.".encode(), "text", "markdown")


def test_a_mail_and_each_attachment_are_cited_as_documents_of_their_own(make_rag, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    eml = mail(docs / "reunion.eml", attachments=[CRANE, ("../../evil.txt", b"Fuite hors du dossier.", "text", "plain")])
    rag = make_rag()
    report = rag.ingest([docs])
    assert not report.failed and len(report.added) == 3
    stored = rag.settings.data_dir / "attachments"
    [crane] = [s for s in report.added if s.endswith("compte-rendu.txt")]
    assert stored.resolve() in Path(crane).parents
    assert all(stored.resolve() in Path(s).parents for s in report.added if s != str(eml))
    assert not (tmp_path / "evil.txt").exists()  # a name is never a path

    answer = rag.ask("Combien de tonnes soulève la nouvelle grue du quai sud ?")
    assert answer.citations[0].source == crane and "quarante tonnes" in answer.citations[0].quote
    assert answer.citations[0].date == "2023-03-14"  # an attachment without a date of its own: the mail's
    assert rag.document_text(crane, answer.citations[0].start, answer.citations[0].end) == answer.citations[0].quote
    meeting = rag.ask("Où aura lieu la réunion jeudi ?")
    assert meeting.citations[0].source == str(eml)
    assert (meeting.citations[0].title, meeting.citations[0].date) == ("Réunion du port", "2023-03-14")

    mail(eml, attachments=[LIGHT])  # the next version of the mail: another attachment
    again = rag.ingest([docs])
    assert again.updated == [str(eml)] and crane in again.removed
    assert [s for s in again.added if s.endswith("phare.md")]
    assert not Path(crane).exists()
    assert "compte-rendu.txt" not in {Path(d.source).name for d in rag.sources()}
    assert rag.ingest([docs]).unchanged == [str(eml)]  # unchanged: nothing is rewritten

    removed = rag.remove([eml])
    assert str(eml) in removed and any(s.endswith("phare.md") for s in removed)
    assert rag.sources() == [] and not any(stored.rglob("*.md"))
