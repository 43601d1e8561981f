"""File loaders, dispatched by suffix.

To support a new format, add a module defining a `@register((".ext",))` loader and import it
below; nothing else changes.
"""

from ingest.loaders.base import (
    LoadedDocument,
    LoadError,
    calendar_date,
    load,
    load_parts,
    register,
    register_parts,
    streamed_suffixes,
    supported_suffixes,
)

# Importing a loader module registers its loaders.
from ingest.loaders import docx, html, pdf, text  # noqa: F401  isort: skip
from ingest.loaders import epub, odt, pptx  # noqa: F401  isort: skip
from ingest.loaders import eml, image  # noqa: F401  isort: skip
from ingest.loaders import delimited, xlsx  # noqa: F401  isort: skip

__all__ = [
    "LoadedDocument", "LoadError", "load", "load_parts", "register", "register_parts",
    "streamed_suffixes", "supported_suffixes",
]
