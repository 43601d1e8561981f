"""Where a mail's attachments are kept, so that each is indexed (and cited) as a document of its
own: ``<collection's folder>/attachments/<hash of the mail's path>/<file name>``, inside the
data dir. The indexer writes them when it indexes the mail and forgets them with it (removed,
or replaced by its next version)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path, PurePath



class Attachments:
    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, source: str) -> Path:
        """The folder of ``source``'s attachments (one per mail, by its path)."""
        return (self.root / hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]).resolve()

    def holds(self, path: Path) -> bool:
        """Whether ``path`` is a stored attachment (indexed with its mail, not on its own)."""
        return self.root.resolve() in Path(path).resolve().parents

    def write(self, source: str, attached: tuple[tuple[str, bytes], ...]) -> list[Path]:
        """Store ``attached`` ((file name, bytes) pairs) as files of ``source``'s folder; a name is
        reduced to its last component, and a name used twice gets a number."""
        folder, paths = self.folder(source), []
        for n, (name, data) in enumerate(attached, 1):
            name = PurePath(name.replace("\\", "/")).name.lstrip(".") or f"attachment-{n}"
            path = folder / name
            if path in paths:
                path = folder / f"{n}-{name}"
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            paths.append(path)
        return paths

    def clear(self, source: str) -> None:
        shutil.rmtree(self.folder(source), ignore_errors=True)
