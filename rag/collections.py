"""Collections: named sets of documents in one data dir, each its own Chroma collection and
keyword index (``RAG(collection=...)``, ``rag --collection NAME``).

``default`` is the data dir as it was before collections: its keyword index, uploads and write
marker at the data dir's root, its chunks in the Chroma collection ``chunks``, so a data dir made
by an earlier release opens as the default collection, untouched. Collection NAME keeps its own
files under ``data_dir/collections/NAME/`` (its chunks in ``chunks-NAME``). Writers of every
collection take the data dir's one write lock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

DEFAULT = "default"
NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?")
RESERVED = {"rag-cite"}
"""Not a collection name: ``/v1`` lists the default collection as the model ``rag-cite``."""


class UnknownCollectionError(UsageError):
    """No collection of this name in the data dir."""


def check_name(name: str) -> str:
    """``name`` if it can name a collection (also a folder and a Chroma collection), else a
    ``UsageError`` saying why."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in RESERVED:
        reason = (f"{name!r} is reserved" if name in RESERVED else
                  "use 1 to 64 lowercase letters, digits, '-' and '_', beginning and ending with a "
                  "letter or digit")
        raise UsageError(f"{name!r} is not a valid collection name: {reason}")
    return name


def home(data_dir: Path, name: str) -> Path:
    """The folder of collection ``name``'s own files: its keyword index, uploads, write marker."""
    return data_dir if name == DEFAULT else data_dir / "collections" / name


def unknown(name: str, data_dir: Path) -> UnknownCollectionError:
    return UnknownCollectionError(
        f"no collection {name!r} in {data_dir}: create it with `rag collections create {name}` "
        "(`rag collections` lists them)")


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as ``RAG.collections`` lists it."""

    name: str
    documents: int
    chunks: int
