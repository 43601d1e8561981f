"""The zip check of every zip-based format (.docx, .pptx, .xlsx, .odt, .epub): an Office file
that is encrypted or in the pre-2007 format (an OLE compound file), a file that is not a zip, or whose central directory declares more than MAX_UNPACKED_BYTES or a compression
ratio over MAX_COMPRESSION_RATIO (a zip bomb), is refused before anything is unpacked
(zipfile never unpacks more than a member declares)."""

from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import Path

from ingest.loaders.base import LoadError, read_bytes

MAX_UNPACKED_BYTES = 200 << 20
MAX_COMPRESSION_RATIO = 100
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""What an Office file saved with a password (or in the format before 2007) starts with."""
LEGACY = {"DOCX": ".doc document", "PPTX": ".ppt presentation", "XLSX": ".xls workbook"}


def encrypted_or_legacy(kind: str) -> str:
    """The reason for an Office ``kind`` file that is an OLE compound file, not a zip."""
    return f"encrypted (password-protected) or legacy {LEGACY[kind]}; save it as .{kind.lower()}"


def not_a_zip(kind: str) -> str:
    """The reason for a ``kind`` file ('DOCX', 'ODT'...) that is no zip archive."""
    article = "an" if kind[:1] in "AEIOUX" else "a"  # as the letters are read: an ODT, an XLSX
    return f"not {article} {kind} file (not a readable zip archive)"


def check_zip(path: Path, data: bytes, kind: str) -> None:
    """Refuse ``data`` (the bytes of ``path``, a ``kind`` file such as 'DOCX') unless it is a
    zip that unpacks within the limits."""
    if kind in LEGACY and data.startswith(OLE_SIGNATURE):
        raise LoadError(path, encrypted_or_legacy(kind))
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, NotImplementedError):
        raise LoadError(path, not_a_zip(kind)) from None
    unpacked = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    if unpacked > MAX_UNPACKED_BYTES:
        size, limit = unpacked / (1 << 20), MAX_UNPACKED_BYTES >> 20
        raise LoadError(path, f"unpacks to {size:.1f} MB, over the {limit} MB limit")
    if unpacked > MAX_COMPRESSION_RATIO * max(packed, 1):
        raise LoadError(path, f"compression ratio over {MAX_COMPRESSION_RATIO}:1 (zip bomb?); not unpacked")


def read_zip(path: Path, kind: str) -> bytes:
    """The bytes of ``path``, a ``kind`` file, refused (LoadError) when empty or when
    ``check_zip`` refuses them: how every zip-based loader starts."""
    data = read_bytes(path)
    if not data:
        raise LoadError(path, "empty file")
    check_zip(path, data, kind)
    return data
