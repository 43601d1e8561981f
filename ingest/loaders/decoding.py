"""Bytes -> str for text files, without newline translation.

Order of attempts:
1. NUL bytes mean binary data.
2. Strict UTF-8. A UTF-8 BOM is decoded with plain 'utf-8', so it stays in the text as
   U+FEFF: offsets then match `path.read_bytes().decode("utf-8")` (and `read_text` for
   LF files) exactly.
3. cp1252, when it decodes cleanly and most letters are ASCII. Western French/English text
   is the only legacy encoding this project expects, and charset_normalizer is unreliable on
   short Latin-1/cp1252 texts (it answers cp1250, mac_latin2, even utf_16_be for 'café').
   Latin-1 text decodes identically under cp1252 except for the C1 range, where cp1252 is
   what Windows users meant (’ œ € …).
4. charset_normalizer's best guess; no guess means binary.

A large file is read in blocks (``stream_encoding``, then ``decode_blocks``): the same choice is
made, pass by pass, with no more than a block of it in memory.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator

from charset_normalizer import from_bytes

BINARY = "binary file, not text"

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
    if b"\x00" in data:
        raise ValueError(BINARY)
    text = _utf8(data)
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


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _western(data: bytes) -> str | None:
    return data.decode("cp1252") if _western_blocks([data]) else None


def stream_encoding(blocks: Callable[[], Iterable[bytes]]) -> str:
    """The codec ``decode_bytes`` would choose for the concatenation of ``blocks()`` (called once
    per pass, up to three times), without holding more than a block; raises ValueError(BINARY).
    charset_normalizer guesses from the first block alone."""
    try:
        binary = _too_many_controls(decode_blocks(blocks(), "utf-8", check_nul=True))
    except UnicodeDecodeError:
        pass
    else:
        if binary:
            raise ValueError(BINARY)
        return "utf-8"
    if _western_blocks(blocks()):
        return "cp1252"
    best = from_bytes(next(iter(blocks()), b"")).best()
    if best is None:
        raise ValueError(BINARY)
    try:
        binary = _too_many_controls(decode_blocks(blocks(), best.encoding, check_nul=True))
    except UnicodeDecodeError:
        raise ValueError(BINARY) from None
    if binary:
        raise ValueError(BINARY)
    return best.encoding


def decode_blocks(blocks: Iterable[bytes], encoding: str, *, check_nul: bool = False) -> Iterator[str]:
    """Each block's text, decoded with ``encoding`` across block boundaries, without newline
    translation; raises UnicodeDecodeError, or ValueError(BINARY) on a NUL byte with ``check_nul``."""
    decoder = codecs.getincrementaldecoder(encoding)()
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
