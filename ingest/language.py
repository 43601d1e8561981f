"""Guess whether a text is French or English from stop-word counts.

The keyword index stems with the language of each document; only French and English
are supported, so the answer is always one of the two ('en' on ties and empty input).
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["fr", "en"]

SAMPLE_CHARS = 5000

# Words frequent in one language and rare in the other ('a', 'on', 'as' are common to both).
_FRENCH = frozenset(
    "le la les l un une des du de d et est sont été être ont avait était dans pour par sur "
    "au aux avec ce cet cette ces il elle ils elles nous vous je tu se sa son ses leur leurs "
    "qui que qu quoi dont où ou mais ne n pas plus très aussi comme en y à c s j m "
    "lui moi toi tout tous toute toutes entre sans sous chez après avant même".split()
)
_ENGLISH = frozenset(
    "the of and to in is are was were be been being that this these those it its with for "
    "by have has had not but or from at which an they them their there what when who whom "
    "would will can could should we you he she his her our your my me do does did than "
    "then so if into about more also only just".split()
)

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def detect_language(text: str) -> Language:
    """Return 'fr' or 'en' for `text`, judged on its first few thousand characters."""
    return guess_language(text) or "en"


def guess_language(text: str) -> Language | None:
    """'fr' or 'en' when the stop words of `text` (its first few thousand characters) say so;
    None when they don't: no telling word (e.g. "Skynet ?") or as many of each."""
    words = (w.lower() for w in _WORD.findall(text[:SAMPLE_CHARS]))
    french = english = 0
    for word in words:
        if word in _FRENCH:
            french += 1
        elif word in _ENGLISH:
            english += 1
    if french == english:
        return None
    return "fr" if french > english else "en"
