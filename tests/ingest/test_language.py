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


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Quand commenceront les pourparlers ?", "fr"),
        ("When will the talks start?", "en"),
        ("Skynet ?", None),
        ("", None),
        ("the le", None),  # as many of each: no telling
    ],
)
def test_guess_language_says_when_it_cannot_tell(text, language):
    from ingest.language import guess_language

    assert guess_language(text) == language
