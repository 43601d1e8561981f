"""Text analysis for the keyword index: tokenize, drop stop words, stem, fold accents.

`analyze` runs on every chunk at ingest and on every query, so it does the least work
per token that gives French/English matching that survives accents, elisions, case and
inflection ('Négociations' ~ 'negociation', "l’État" ~ 'etats').
"""

from __future__ import annotations

import re
import threading
import unicodedata

import Stemmer

# Bump whenever the output of `analyze` changes: indexes built with another version are stale.
ANALYZER_VERSION = 1

_FRENCH_STOP = """
a à ai aie aient aies ait alors as au aucun aucune auquel aura aurai auraient aurais
aurait auras aurez auriez aurions aurons auront aussi autre autres aux auxquelles
auxquels avaient avais avait avant avec avez aviez avions avoir avons ayant ayez ayons
c ça car ce ceci cela celle celles celui cependant ces cet cette ceux chaque ci comme
comment d dans de des donc dont du duquel elle elles en encore entre es est et étaient
étais était étant été êtes étiez étions être eu eue eues eûmes eurent eus eusse eussent
eusses eussiez eussions eut eût eûtes eux fûmes furent fus fusse fussent fusses fussiez
fussions fut fût fûtes ici il ils j je jusqu l la laquelle le lequel les lesquelles
lesquels leur leurs lorsqu lors lui m ma mais me même mêmes mes moi mon n ne ni nos
notre nous on ont ou où par parce pas peu peut plus pour pourquoi puis puisqu qu quand
que quel quelle quelles quels qui quoi s sa sans se sera serai seraient serais serait
seras serez seriez serions serons seront ses si sien sienne siens soi soient sois soit
sommes son sont sous soyez soyons suis sur t ta te tes toi ton tous tout toute toutes
très tu un une unes uns vos votre vous y
"""

_ENGLISH_STOP = """
a about above after again against all am an and any are aren as at be because been
before being below between both but by can cannot could couldn d did didn do does doesn
doing don down during each few for from further had hadn has hasn have haven having he
her here hers herself him himself his how i if in into is isn it its itself just ll m
ma me more most mustn my myself no nor not now o of off on once only or other ought our
ours ourselves out over own re s same shan she should shouldn so some such t than that
the their theirs them themselves then there these they this those through to too under
until up us ve very was wasn we were weren what when where which while who whom why
will with won would wouldn y you your yours yourself yourselves also
"""

_WORD = re.compile(r"[^\W_]+")
# "100 000" / "1 234 567" (after NFKC, no-break and thin spaces are plain spaces) -> one token.
_DIGIT_GROUPS = re.compile(r"(?<!\d)\d{1,3}(?: \d{3})+(?!\d)")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold_accents(text: str) -> str:
    """'États' -> 'Etats': strip combining marks after canonical decomposition."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", _COMBINING.sub("", unicodedata.normalize("NFD", text)))


def _stop_set(words: str) -> frozenset[str]:
    listed = words.split()
    return frozenset(listed) | {fold_accents(w) for w in listed}


_RULES = {
    "fr": ("french", _stop_set(_FRENCH_STOP)),
    "en": ("english", _stop_set(_ENGLISH_STOP)),
}

# Stemmer objects are not thread-safe: one per (thread, language).
_local = threading.local()


def rules_for(language: str | None) -> str:
    """The rule set ('fr' or 'en') applied to text in `language`; anything not French is English."""
    lang = (language or "").strip().lower()
    return "fr" if lang == "fr" or lang.startswith(("fr-", "fr_")) or lang == "french" else "en"


def _stemmer(rules: str) -> Stemmer.Stemmer:
    cache = getattr(_local, "stemmers", None)
    if cache is None:
        cache = _local.stemmers = {}
    stemmer = cache.get(rules)
    if stemmer is None:
        stemmer = cache[rules] = Stemmer.Stemmer(_RULES[rules][0])
    return stemmer


def analyze(text: str, language: str) -> list[str]:
    """Index terms of `text`, in order, with the rules of `language` ('fr'/'en'; else English)."""
    rules = rules_for(language)
    text = unicodedata.normalize("NFKC", text).lower()
    if "œ" in text or "æ" in text:  # str.translate is slow; ligatures are rare
        text = text.replace("œ", "oe").replace("æ", "ae")
    text = _DIGIT_GROUPS.sub(lambda m: m.group().replace(" ", ""), text)
    stop = _RULES[rules][1]
    tokens = [t for t in _WORD.findall(text) if t not in stop]
    if not tokens:
        return []
    return fold_accents(" ".join(_stemmer(rules).stemWords(tokens))).split()
