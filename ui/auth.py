"""Optional basic auth: ``user:password``, ``@file`` (one ``user:password`` a line), or the
``RAG_UI_AUTH`` environment variable (same two forms)."""

from __future__ import annotations

import os
from pathlib import Path

from rag.errors import UsageError

ENV_VAR = "RAG_UI_AUTH"


def parse_auth(spec: str | None) -> list[tuple[str, str]] | None:
    """The (user, password) pairs of ``spec``; None when ``spec`` is empty. Raises UsageError
    (a ValueError) with a clear message for a malformed spec or an unreadable file."""
    if spec is None or not str(spec).strip():
        return None
    spec = str(spec).strip()
    if spec.startswith("@"):
        path = Path(spec[1:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read the auth file {path}: {exc.strerror or exc}") from None
        pairs = [_pair(line, f"{path}:{n}") for n, line in enumerate(lines, 1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not pairs:
            raise UsageError(f"the auth file {path} holds no user:password line")
        return pairs
    return [_pair(spec, "--auth")]


def _pair(line: str, where: str) -> tuple[str, str]:
    user, sep, password = line.strip().partition(":")
    if not sep or not user or not password:
        raise UsageError(f"{where}: expected user:password")
    return user, password


def resolve_auth(auth: str | tuple | list | None) -> list[tuple[str, str]] | None:
    """Credentials from ``auth`` (a spec string, a (user, password) pair or a list of them),
    else from ``RAG_UI_AUTH``, else None (no login)."""
    if auth is None:
        return parse_auth(os.environ.get(ENV_VAR))
    if isinstance(auth, str):
        return parse_auth(auth)
    if isinstance(auth, tuple):
        return [auth]
    return [tuple(a) for a in auth] or None
