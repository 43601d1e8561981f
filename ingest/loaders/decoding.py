"""Bytes -> str for text files, without newline translation.

Order of attempts:
1. UTF-32 and UTF-16, by their byte-order mark (kept in the text as U+FEFF, as a UTF-8 one),
   else by the pattern of NUL bytes that Latin text makes in them (every other byte NUL in
   UTF-16, three of four in UTF-32). A damaged unit becomes U+FFFD when there is a mark.
2. Other NUL bytes mean binary data.
3. Strict UTF-8. A UTF-8 BOM is decoded with plain 'utf-8', so it stays in the text as
   U+FEFF: offsets then match `path.read_bytes().decode("utf-8")` (and `read_text` for
   LF files) exactly.
4. UTF-8 with a few damaged bytes: when its valid non-ASCII characters outnumber its invalid
   sequences at least DAMAGE_RATIO to one, it is UTF-8 with U+FFFD for each invalid sequence,
   not another encoding's mojibake of every accent.
5. cp1252, when it decodes cleanly and most letters are ASCII. Western French/English text
   is the only legacy encoding this project expects, and charset_normalizer is unreliable on
   short Latin-1/cp1252 texts (it answers cp1250, mac_latin2, even utf_16_be for 'café').
   Latin-1 text decodes identically under cp1252 except for the C1 range, where cp1252 is
   what Windows users meant (’ œ € …).
6. charset_normalizer's best guess; no guess means binary.

A large file is read in blocks (``stream_encoding``, then ``decode_blocks``): the same choice is
made, pass by pass, with no more than a block of it in memory.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator

from charset_normalizer import from_bytes

BINARY = "binary file, not text"
DAMAGE_RATIO = 2
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_SAMPLE = 4096  # bytes the NUL pattern of UTF-16/32 is judged on

# C0 controls and DEL, except whitespace (\t \n \v \f \r and the U+001C-U+001F separators).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
_MAX_CONTROL_RATIO = 0.01
_MAX_NON_ASCII_LETTER_RATIO = 0.3
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_CP1252_LETTERS = bytes(  # the bytes above 127 that cp1252 decodes to letters
    b for b in range(128, 256) if bytes([b]).decode("cp1252", "ignore").isalpha()
)


def decode_bytes(data: bytes) -> str:
    """Decode a text file's bytes; raises ValueError(BINARY) for binary data."""
    wide = wide_encoding(data[:_SAMPLE])
    if wide is not None:
        return _decoded_wide(data, *wide)
    if b"\x00" in data:
        raise ValueError(BINARY)
    text = _utf8(data)
    if text is None and _damaged_utf8([data]):
        text = data.decode("utf-8", "replace")
    if text is None:
        text = _western(data)
    if text is None:
        best = from_bytes(data).best()
        if best is None:
            raise ValueError(BINARY)
        text = str(best)
    if _too_many_controls([text]):
        raise ValueError(BINARY)
    return text


def wide_encoding(head: bytes) -> tuple[str, str] | None:
    """(codec, errors) of a UTF-32 or UTF-16 file from its first bytes, or None: by its
    byte-order mark ('replace': the mark is evidence enough), else by its NUL pattern
    ('strict': a guess that must decode)."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, "replace"
    for codec, unit, zeros, letter in (("utf-32-le", 4, (2, 3), 0), ("utf-32-be", 4, (0, 1), 3),
                                       ("utf-16-le", 2, (1,), 0), ("utf-16-be", 2, (0,), 1)):
        if _nul_pattern(head, unit, zeros, letter):
            return codec, "strict"
    return None


def _nul_pattern(head: bytes, unit: int, zeros: tuple[int, ...], letter: int) -> bool:
    """Whether nearly every ``unit``-byte unit of ``head`` is NUL at the ``zeros`` positions and
    hardly any at ``letter`` (the byte of a Latin letter's code): how Latin text looks in UTF-16
    (unit 2) or UTF-32 (unit 4)."""
    units = len(head) // unit
    if units < 2:
        return False
    nul = [sum(head[i] == 0 for i in range(at, units * unit, unit)) for at in range(unit)]
    return all(nul[at] >= 0.9 * units for at in zeros) and nul[letter] <= 0.05 * units


def _decoded_wide(data: bytes, codec: str, errors: str) -> str:
    try:
        text = data.decode(codec, errors)
    except UnicodeDecodeError:
        raise ValueError(BINARY) from None
    if _too_many_controls([text]):
        raise ValueError(BINARY)
    return text


def _damaged_utf8(blocks: Iterable[bytes]) -> bool:
    """Whether the blocks are UTF-8 with a few damaged bytes (see the module's doc)."""
    good = bad = 0
    for text in decode_blocks(blocks, "utf-8", errors="replace"):
        replaced = text.count("\ufffd")
        bad += replaced
        good += sum(ord(c) > 127 for c in text) - replaced
    return bad > 0 and good >= DAMAGE_RATIO * bad


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _western(data: bytes) -> str | None:
    return data.decode("cp1252") if _western_blocks([data]) else None


def stream_encoding(blocks: Callable[[], Iterable[bytes]]) -> tuple[str, str]:
    """The (codec, errors) ``decode_bytes`` would choose for the concatenation of ``blocks()``
    (called once per pass, up to four times), without holding more than a block; raises
    ValueError(BINARY). UTF-16/32 and charset_normalizer are judged on the first block alone."""
    wide = wide_encoding(next(iter(blocks()), b"")[:_SAMPLE])
    if wide is not None:
        try:
            binary = _too_many_controls(decode_blocks(blocks(), wide[0], errors=wide[1]))
        except UnicodeDecodeError:
            raise ValueError(BINARY) from None
        if binary:
            raise ValueError(BINARY)
        return wide
    try:
        binary = _too_many_controls(decode_blocks(blocks(), "utf-8", check_nul=True))
    except UnicodeDecodeError:
        pass
    else:
        if binary:
            raise ValueError(BINARY)
        return "utf-8", "strict"
    if _damaged_utf8(blocks()):
        return "utf-8", "replace"
    if _western_blocks(blocks()):
        return "cp1252", "strict"
    best = from_bytes(next(iter(blocks()), b"")).best()
    if best is None:
        raise ValueError(BINARY)
    try:
        binary = _too_many_controls(decode_blocks(blocks(), best.encoding, check_nul=True))
    except UnicodeDecodeError:
        raise ValueError(BINARY) from None
    if binary:
        raise ValueError(BINARY)
    return best.encoding, "strict"


def decode_blocks(blocks: Iterable[bytes], encoding: str, *, errors: str = "strict",
                  check_nul: bool = False) -> Iterator[str]:
    """Each block's text, decoded with ``encoding`` across block boundaries, without newline
    translation; raises UnicodeDecodeError (with ``errors='strict'``), or ValueError(BINARY) on
    a NUL byte with ``check_nul``."""
    decoder = codecs.getincrementaldecoder(encoding)(errors)
    for block in blocks:
        if check_nul and b"\x00" in block:
            raise ValueError(BINARY)
        yield decoder.decode(block)
    yield decoder.decode(b"", final=True)


def _too_many_controls(texts: Iterable[str]) -> bool:
    chars = controls = 0
    for text in texts:
        chars += len(text)
        controls += len(_CONTROL.findall(text))
    return controls > _MAX_CONTROL_RATIO * chars


def _western_blocks(blocks: Iterable[bytes]) -> bool:
    """Whether the concatenated blocks are cp1252 text: they decode, with no control character,
    and most of their letters are ASCII (cp1252 is one byte a character, so letters are counted
    by byte)."""
    letters = non_ascii = 0
    for block in blocks:
        try:
            text = block.decode("cp1252")
        except UnicodeDecodeError:
            return False
        if _CONTROL.search(text):
            return False
        high = len(block) - len(block.translate(None, _CP1252_LETTERS))
        letters += len(block) - len(block.translate(None, _ASCII_LETTERS)) + high
        non_ascii += high
    return bool(letters) and non_ascii <= _MAX_NON_ASCII_LETTER_RATIO * letters
