"""Planning an incremental sync between the files on disk and what the store holds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SyncPlan:
    """Source paths to add, re-index, leave alone and delete; each list sorted."""

    add: list[str]
    update: list[str]
    unchanged: list[str]
    remove: list[str]


def plan_sync(on_disk: dict[str, str], in_store: dict[str, str], *, prune: bool) -> SyncPlan:
    """Compare {source: content hash} on disk with the store's; removal only when `prune`."""
    known = [path for path in on_disk if path in in_store]
    return SyncPlan(
        add=sorted(path for path in on_disk if path not in in_store),
        update=sorted(path for path in known if in_store[path] != on_disk[path]),
        unchanged=sorted(path for path in known if in_store[path] == on_disk[path]),
        remove=sorted(path for path in in_store if path not in on_disk) if prune else [],
    )
