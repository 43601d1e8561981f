"""Who may use which collection: a TOML file, ``access.toml`` in the data dir (or the path of the
setting ``access_file``)::

    [groups]
    finance = ["alice", "carol"]

    [collections.reports]          # only bob and the finance group
    users = ["bob"]
    groups = ["finance"]

A collection the file does not name is open to every user; one it names, only to its users and
to the members of its groups (``"*"`` among its users: everyone). Without the file, every
collection is open. The file is read again when it changes, so a grant takes effect at the next
request; a file that becomes invalid closes every collection until it is fixed.

The interfaces that serve requests (the chat, REST, ``/v1``, MCP) ask for a user's collections
(``RAG.collection(name, user=...)``, ``RAG.collection_names(user)``), as the login or API key
names them, ``local`` where there is neither. The CLI and the Python API act for the data dir's
owner, who can read its files anyway, and see every collection."""

from __future__ import annotations

import logging
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .collections import check_name
from .errors import UsageError

FILE = "access.toml"
EVERYONE = "*"

log = logging.getLogger(__name__)


class NotGrantedError(UsageError):
    """A collection the access file does not open to this user (the interfaces answer 403)."""


class AccessFileError(NotGrantedError):
    """An access file that cannot be read or is malformed: no collection is open."""


@dataclass(frozen=True)
class Rules:
    """The grants of one access file: for each collection it names, the users who may use it."""

    grants: dict[str, frozenset[str]]

    def allows(self, user: str, collection: str) -> bool:
        users = self.grants.get(collection)
        return users is None or user in users or EVERYONE in users


OPEN = Rules({})


def parse(text: str, where: str) -> Rules:
    """The rules of an access file's ``text``; a ``UsageError`` naming ``where`` and the field
    for anything malformed (an unknown key or group, a name that is not a collection's)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}") from None
    if unknown := set(data) - {"groups", "collections"}:
        raise UsageError(f"{where}: unknown table(s) {sorted(unknown)}: expected [groups] and [collections.NAME]")
    groups = {name: _names(members, f"{where}: groups.{name}") for name, members in _table(data, "groups", where).items()}
    grants = {}
    for name, rule in _table(data, "collections", where).items():
        field = f"{where}: collections.{name}"
        try:
            check_name(name)
        except UsageError as exc:
            raise UsageError(f"{field}: {exc}") from None
        if not isinstance(rule, dict) or set(rule) - {"users", "groups"}:
            raise UsageError(f"{field}: expected only 'users' and 'groups', lists of names")
        users = set(_names(rule.get("users", []), f"{field}.users"))
        for group in _names(rule.get("groups", []), f"{field}.groups"):
            if group not in groups:
                raise UsageError(f"{field}.groups: no group {group!r} in [groups]")
            users |= set(groups[group])
        grants[name] = frozenset(users)
    return Rules(grants)


def _table(data: dict, key: str, where: str) -> dict:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise UsageError(f"{where}: '{key}' must be a table ([{key}])")
    return table


def _names(value, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UsageError(f"{field}: expected a list of names, e.g. [\"alice\", \"bob\"]")
    return [v.strip() for v in value]


class Access:
    """The access file of a data dir, read again when it changes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple | None = None
        self._rules: Rules | str = OPEN  # or why the file is invalid

    def rules(self) -> Rules:
        """The file's rules as it is now (no file: every collection open); an
        ``AccessFileError`` while it is invalid."""
        try:
            stat = self.path.stat()
            seen = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = None
        except OSError:
            seen = ()  # there, but not readable: _read says why
        with self._lock:
            if seen != self._seen:
                self._rules = OPEN if seen is None else self._read()
                self._seen = seen
            rules = self._rules
        if isinstance(rules, str):
            raise AccessFileError(rules)
        return rules

    def _read(self) -> Rules | str:
        try:
            return parse(self.path.read_text(encoding="utf-8"), str(self.path))
        except OSError as exc:
            reason = f"cannot read the access file {self.path}: {exc.strerror or exc}"
        except UsageError as exc:
            reason = str(exc)
        log.error("%s; every collection is closed until the file is fixed", reason)
        return f"{reason} (no collection is open until it is fixed)"

    def check(self, user: str, collection: str) -> None:
        """Nothing if ``user`` may use ``collection``, else ``NotGrantedError``."""
        if not self.rules().allows(user, collection):
            raise NotGrantedError(f"the collection {collection!r} is not open to the user {user!r} "
                                  "(the access file says who may use it)")

    def visible(self, user: str, names: list[str]) -> list[str]:
        """Those of ``names`` that ``user`` may use, in their order."""
        rules = self.rules()
        return [n for n in names if rules.allows(user, n)]
