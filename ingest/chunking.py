"""Sentence splitting and token-bounded chunking.

Every span is `(start, end)` into the text it came from, stripped of edge whitespace and never
empty, so `text[start:end]` is the sentence or chunk and citations can point back into the file.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from langchain_core.documents import Document

if TYPE_CHECKING:
    from ingest.loaders import LoadedDocument

CountTokens = Callable[[list[str]], list[int]]
Span = tuple[int, int]

# A chunk that has to end is cut at the last paragraph break once it is at least this full.
PARAGRAPH_MIN_FILL = 0.5
# Runs of this many characters without whitespace are data (base64, a minified blob), not words:
# they are left out of the chunks (prose in any language breaks lines well before that).
MAX_WORD_CHARS = 10_000

_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines() breaks on
_LINE = re.compile(f"[^{_BREAKS}]+")
_LINE_BREAK = re.compile(f"\r\n|[{_BREAKS}]")
_SPACE_RUN = re.compile(r"\s+")
_WORD = re.compile(r"\S+")
_NON_SPACE = re.compile(r"\S")
# Starts only where a run starts, so each run is scanned once (linear time).
_DATA_RUN = re.compile(rf"(?<!\S)\S{{{MAX_WORD_CHARS},}}")
# Terminators, then closing quotes/brackets (French sets a space before »), then whitespace.
_SENTENCE_END = re.compile(r"([.!?…]+)(?:\s*[»”\"’')\]]+)?(?=\s)")
_ABBREVIATION_WINDOW = 40  # characters looked at before a '.'
_TOKEN_BEFORE = re.compile(r"[\w.-]*\w$")
_DOTTED = re.compile(r"(?:\w{1,2}\.)+-?\w{1,2}")  # e.g, i.e, U.S, J.-C
_NOT_A_SENTENCE_START = frozenset(",;:)]}»”’")
# Abbreviations after which a '.' does not end the sentence; matched case-sensitively, then in
# lower case. 'etc.' is not among them: it ends a sentence when a capital follows.
_ABBREVIATIONS = frozenset(
    "M MM Mme Mmes Mlle Mlles Me Mgr Dr Drs Pr Prof Mr Mrs Ms St Ste Sr Jr Gen Gén Col Lt Sgt "
    "Capt Gov Rev Hon Sen Rep Inc Ltd Corp Co Cie".split()
)
_LOWER_ABBREVIATIONS = frozenset(
    "cf vs env av apr ex al éd janv févr avr juil oct nov déc "
    "jan feb mar jun jul aug sep dec".split()
)
# Abbreviations only when a number follows: 'p. 12', 'art. 3', 'No. 5' (but 'modern art. The').
_NUMBER_ABBREVIATIONS = frozenset("p pp art no n vol fig ch chap sect".split())


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of French or English text, in order; line breaks always end a sentence."""
    spans: list[Span] = []
    for line in _LINE.finditer(text):
        start = line.start()
        for end in _sentence_ends(text, line.start(), line.end()):
            _append_stripped(spans, text, start, end)
            start = end
        _append_stripped(spans, text, start, line.end())
    return spans


def chunk_spans(
    text: str,
    *,
    count_tokens: CountTokens,
    max_tokens: int,
    overlap_tokens: int,
    hard_max_tokens: int,
) -> list[Span]:
    """Chunk spans packing whole sentences up to `max_tokens`, never over `hard_max_tokens`.

    `count_tokens` maps a batch of strings to their token counts and must accept "" (its count
    is taken as the per-text overhead, e.g. special tokens, and discounted when summing).
    Sentences longer than `max_tokens` are cut at word boundaries, words at characters.
    Consecutive chunks share whole trailing sentences worth up to `overlap_tokens`.
    Raises ValueError for inconsistent limits or a `hard_max_tokens` below one character.
    """
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens or hard_max_tokens < max_tokens:
        raise ValueError(
            "need 1 <= max_tokens <= hard_max_tokens and 0 <= overlap_tokens < max_tokens, got "
            f"max_tokens={max_tokens}, overlap_tokens={overlap_tokens}, "
            f"hard_max_tokens={hard_max_tokens}"
        )
    sentences = split_sentences(text)
    if not sentences:
        return []
    overhead, *counts = count_tokens(["", *(text[s:e] for s, e in sentences)])
    units = _units(text, sentences, counts, count_tokens, max_tokens=max_tokens, overhead=overhead)
    sizes = [size for _, _, size in units]
    paragraph_before = [False] + [
        len(_LINE_BREAK.findall(text, units[i - 1][1], units[i][0])) >= 2
        for i in range(1, len(units))
    ]
    ranges = _pack(sizes, paragraph_before, max_tokens - overhead, overlap_tokens)
    chunks = [(units[a][0], units[b - 1][1]) for a, b in ranges]
    chunk_counts = count_tokens([text[s:e] for s, e in chunks])
    checked = _split_until(
        text,
        [(s, e, c) for (s, e), c in zip(chunks, chunk_counts)],
        count_tokens,
        limit=hard_max_tokens,
        target=max_tokens,
        overhead=overhead,
        preferred=[s for s, _, _ in units],
    )
    if any(c > hard_max_tokens for _, _, c in checked):
        raise ValueError(f"hard_max_tokens={hard_max_tokens} cannot hold a single character")
    return _in_order([(s, e) for s, e, _ in checked])


def chunk_document(
    doc: LoadedDocument,
    *,
    count_tokens: CountTokens,
    max_tokens: int,
    overlap_tokens: int,
    hard_max_tokens: int,
    doc_hash: str,
    first_index: int = 0,
) -> list[Document]:
    """The document's chunks as Documents, numbered from ``first_index``;
    page_content == doc.text[start - doc.offset : end - doc.offset] (``doc`` may be a part of a
    document, see ``ingest.loaders.load_parts``: chunk it part by part, each numbered on).

    Metadata: source, title, date, page, section (the Markdown heading the chunk starts under),
    start, end, chunk_index, doc_hash, language; keys whose
    value is None are left out (vector stores reject None), so read them with `.get()`.
    A chunk never spans two pages or two sections (so its page and section are those of every
    quote in it). Runs of
    MAX_WORD_CHARS or more characters without whitespace are left out; the text between them
    is chunked as usual.
    """
    spans = [
        (start + s, start + e)
        for start, end in _located_segments(doc)
        for s, e in chunk_spans(
            doc.text[start:end],
            count_tokens=count_tokens,
            max_tokens=max_tokens,
            overlap_tokens=overlap_tokens,
            hard_max_tokens=hard_max_tokens,
        )
    ]
    pages = sorted(doc.pages or (), key=lambda page: page[1])
    page_starts = [start for _, start, _ in pages]
    section_starts = [start for start, _ in doc.sections]
    documents = []
    for index, (start, end) in enumerate(spans):
        metadata = {
            "source": doc.source,
            "title": doc.title,
            "date": doc.date,
            "page": _page_at(pages, page_starts, start),
            "section": _section_at(doc.sections, section_starts, start),
            "start": doc.offset + start,
            "end": doc.offset + end,
            "chunk_index": first_index + index,
            "doc_hash": doc_hash,
            "language": doc.language,
        }
        documents.append(
            Document(
                page_content=doc.text[start:end],
                metadata={key: value for key, value in metadata.items() if value is not None},
            )
        )
    return documents


def _located_segments(doc: LoadedDocument) -> list[Span]:
    """The word segments of ``doc.text``, cut where a page or a section starts or ends: a chunk
    never spans two, so the page and section of a chunk are those of every quote taken from it."""
    bounds = [*(bound for _, start, end in doc.pages or () for bound in (start, end)),
              *(start for start, _ in doc.sections)]
    cuts = sorted({0, len(doc.text), *(b for b in bounds if 0 < b < len(doc.text))})
    return [(a + s, a + e) for a, b in zip(cuts, cuts[1:]) for s, e in word_segments(doc.text[a:b])]


def word_segments(text: str) -> list[Span]:
    """The spans of `text` between runs of MAX_WORD_CHARS or more non-whitespace characters."""
    bounds = [0, *(i for run in _DATA_RUN.finditer(text) for i in run.span()), len(text)]
    return [(start, end) for start, end in zip(bounds[::2], bounds[1::2]) if start < end]


def _sentence_ends(text: str, line_start: int, line_end: int) -> Iterable[int]:
    for match in _SENTENCE_END.finditer(text, line_start, line_end):
        following = _NON_SPACE.search(text, match.end(), line_end)
        if following is None:
            continue  # the line ends here anyway
        next_char = text[following.start()]
        if next_char.islower() or next_char in _NOT_A_SENTENCE_START:
            continue
        window = text[max(line_start, match.start() - _ABBREVIATION_WINDOW) : match.start()]
        if match.group(1) == "." and _is_abbreviation(window, next_char):
            continue
        yield match.end()


def _is_abbreviation(before: str, next_char: str) -> bool:
    token = _TOKEN_BEFORE.search(before)
    if token is None:
        return False
    word = token.group()
    return (
        word in _ABBREVIATIONS
        or word.lower() in _LOWER_ABBREVIATIONS
        or (word.lower() in _NUMBER_ABBREVIATIONS and next_char.isdigit())
        or (len(word) == 1 and word.isupper())  # an initial: 'J. Smith'
        or _DOTTED.fullmatch(word) is not None
    )


def _append_stripped(spans: list[Span], text: str, start: int, end: int) -> None:
    start, end = _strip(text, start, end)
    if start < end:
        spans.append((start, end))


def _strip(text: str, start: int, end: int) -> Span:
    segment = text[start:end]
    left = len(segment) - len(segment.lstrip())
    return start + left, start + len(segment.rstrip())


def _units(
    text: str,
    sentences: Sequence[Span],
    counts: Sequence[int],
    count_tokens: CountTokens,
    *,
    max_tokens: int,
    overhead: int,
) -> list[tuple[int, int, int]]:
    """(start, end, tokens less overhead) of each sentence; a sentence over `max_tokens` becomes
    groups of consecutive words that fit, a word over it is first cut between characters."""
    long = [span for span, count in zip(sentences, counts) if count > max_tokens]
    words = [m.span() for start, end in long for m in _WORD.finditer(text, start, end)]
    word_counts = count_tokens([text[s:e] for s, e in words]) if words else []
    pieces = _split_until(
        text,
        [(s, e, c) for (s, e), c in zip(words, word_counts)],
        count_tokens,
        limit=max_tokens,
        target=max_tokens,
        overhead=overhead,
    )
    budget = max_tokens - overhead
    piece_starts = [start for start, _, _ in pieces]
    units: list[tuple[int, int, int]] = []
    for (start, end), count in zip(sentences, counts):
        if count <= max_tokens:
            units.append((start, end, max(0, count - overhead)))
        else:
            first, last = bisect_left(piece_starts, start), bisect_left(piece_starts, end)
            units.extend(_group(pieces[first:last], budget, overhead))
    return units


def _group(
    pieces: Sequence[tuple[int, int, int]], budget: int, overhead: int
) -> list[tuple[int, int, int]]:
    """Consecutive (start, end, tokens) pieces merged while their sizes fit in `budget`."""
    groups: list[tuple[int, int, int]] = []
    for start, end, count in pieces:
        size = max(0, count - overhead)
        if groups and groups[-1][2] + size <= budget:
            groups[-1] = (groups[-1][0], end, groups[-1][2] + size)
        else:
            groups.append((start, end, size))
    return groups


def _pack(
    sizes: Sequence[int], paragraph_before: Sequence[bool], budget: int, overlap: int
) -> list[Span]:
    """Greedy packing of unit sizes into [first, last) ranges whose sum stays within `budget`."""
    prefix = [0, *accumulate(sizes)]
    ranges: list[Span] = []
    first, fresh = 0, 0  # fresh: the first unit no chunk holds yet
    while fresh < len(sizes):
        last = max(first + 1, fresh + 1)
        while last < len(sizes) and prefix[last + 1] - prefix[first] <= budget:
            last += 1
        if last < len(sizes):
            for cut in range(last - 1, fresh, -1):
                full_enough = prefix[cut] - prefix[first] >= PARAGRAPH_MIN_FILL * budget
                if paragraph_before[cut] and full_enough:
                    last = cut
                    break
        ranges.append((first, last))
        fresh = last
        first = last
        while first - 1 > ranges[-1][0] and prefix[last] - prefix[first - 1] <= overlap:
            first -= 1
        while first < last and last < len(sizes) and prefix[last + 1] - prefix[first] > budget:
            first += 1
    return ranges


def _in_order(spans: list[Span]) -> list[Span]:
    """Spans sorted by start, less any inside another: cutting overlapping chunks that went over
    the hard limit can leave pieces out of order, or one wholly inside its neighbour."""
    kept: list[Span] = []
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not kept or end > kept[-1][1]:
            kept.append((start, end))
    return kept


def _split_until(
    text: str,
    items: list[tuple[int, int, int]],
    count_tokens: CountTokens,
    *,
    limit: int,
    target: int,
    overhead: int,
    preferred: Sequence[int] = (),
) -> list[tuple[int, int, int]]:
    """Cut (start, end, tokens) items over `limit` into about `target`-token pieces, recounting
    each round in one batch, until every piece fits or is a single character."""
    while True:
        result: list[tuple[int, int, int]] = []
        fresh: list[int] = []
        for start, end, tokens in items:
            if tokens <= limit or end - start <= 1:
                result.append((start, end, tokens))
                continue
            parts = max(2, -(-(tokens - overhead) // max(1, target - overhead)))
            for piece in _cut(text, start, end, parts, preferred):
                fresh.append(len(result))
                result.append((*piece, 0))
        if not fresh:
            return result
        counts = count_tokens([text[result[i][0] : result[i][1]] for i in fresh])
        for i, tokens in zip(fresh, counts):
            result[i] = (result[i][0], result[i][1], tokens)
        items = result


def _cut(text: str, start: int, end: int, parts: int, preferred: Sequence[int]) -> list[Span]:
    """Cut text[start:end] into about `parts` stripped pieces of similar length, at preferred
    positions if any lie inside, else at whitespace, else between characters."""
    lo, hi = bisect_right(preferred, start), bisect_left(preferred, end)
    candidates = list(preferred[lo:hi])
    if not candidates:
        candidates = [m.start() for m in _SPACE_RUN.finditer(text, start, end)]
    step = (end - start) / parts
    targets = [start + round(step * i) for i in range(1, parts)]
    if candidates:
        cuts = sorted({_nearest(candidates, t) for t in targets})
    else:
        cuts = sorted({_char_boundary(text, t, start, end) for t in targets} - {start, end})
    pieces: list[Span] = []
    for piece_start, piece_end in zip([start, *cuts], [*cuts, end]):
        _append_stripped(pieces, text, piece_start, piece_end)
    return pieces


def _nearest(candidates: Sequence[int], target: int) -> int:
    i = bisect_left(candidates, target)
    nearby = candidates[max(0, i - 1) : i + 1]
    return min(nearby, key=lambda c: abs(c - target))


def _char_boundary(text: str, position: int, start: int, end: int) -> int:
    """`position`, moved forward past combining marks so that none is cut from its base."""
    moved = position
    while start < moved < end and unicodedata.combining(text[moved]):
        moved += 1
    return moved if moved < end else position


def _section_at(sections: Sequence[tuple[int, str]], starts: Sequence[int], offset: int) -> str | None:
    """The heading of the last section starting at or before ``offset``."""
    i = bisect_right(starts, offset) - 1
    return sections[i][1] if i >= 0 else None


def _page_at(
    pages: Sequence[tuple[int, int, int]], starts: Sequence[int], offset: int
) -> int | None:
    i = bisect_right(starts, offset) - 1
    if i >= 0 and pages[i][1] <= offset < pages[i][2]:
        return pages[i][0]
    return None
