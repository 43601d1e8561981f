import pytest

from ingest.language import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Le chat est sur la table et il dort.", "fr"),
        ("« C’est avec les Etats-Unis que nous mènerons l’essentiel »", "fr"),
        ("The cat is on the table and it sleeps.", "en"),
        ("", "en"),
        ("12345 !!!", "en"),
        ("Paris Berlin", "en"),
        ("LES NÉGOCIATIONS DE LA RUSSIE ET DES ÉTATS-UNIS", "fr"),
    ],
)
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_only_the_beginning_counts():
    assert detect_language("The story of the day. " * 300 + "Le la les de des du " * 500) == "en"
