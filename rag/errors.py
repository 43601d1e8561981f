"""The one base class of expected failures: bad input, a missing file, a store built with another
model, a server that does not answer. Interfaces show their message (which names what is wrong
and how to fix it) without a traceback; anything else is a bug and keeps its traceback."""

from __future__ import annotations

from ingest.loaders.base import LoadError
from vectorstore.errors import StoreError


class RagError(Exception):
    """An expected failure of the ``rag`` API; ``str(error)`` is the message for the user."""


class FilterError(RagError, ValueError):
    """A malformed filter (an unknown key, a date that is not 'YYYY[-MM[-DD]]')."""


class UsageError(RagError, ValueError):
    """An argument out of range (``k`` below 1, an empty question)."""


EXPECTED: tuple[type[Exception], ...] = (RagError, StoreError, LoadError)
"""What an interface reports as a message: ``rag``'s own errors and those of the parts below it
(the store's, a loader's); vectorstore and ingest cannot import rag, so they keep their own
bases."""
