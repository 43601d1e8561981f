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
"""

from __future__ import annotations

import re

from charset_normalizer import from_bytes

BINARY = "binary file, not text"

# C0 controls and DEL, except whitespace (\t \n \v \f \r and the U+001C-U+001F separators).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
_MAX_CONTROL_RATIO = 0.01
_MAX_NON_ASCII_LETTER_RATIO = 0.3


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
    if len(_CONTROL.findall(text)) > _MAX_CONTROL_RATIO * len(text):
        raise ValueError(BINARY)
    return text


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _western(data: bytes) -> str | None:
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    if _CONTROL.search(text):
        return None
    letters = [c for c in text if c.isalpha()]
    non_ascii = sum(1 for c in letters if not c.isascii())
    if not letters or non_ascii > _MAX_NON_ASCII_LETTER_RATIO * len(letters):
        return None
    return text
