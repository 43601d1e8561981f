"""Who may call the service, and how much they may send.

- An API key, sent as ``Authorization: Bearer KEY``, guards ``/api``, ``/v1`` and ``/mcp``; it is
  compared in constant time. Each key names its user (``user:key`` lines in a key file; a key
  alone is the local user's), whose conversations the request reaches (``request.state.user``). Without a key those routes answer only when the server is bound to
  a loopback address (on any other they answer 401), and ``rag serve`` refuses to bind a public
  address with neither a key nor a UI login.
- Request bodies are limited: uploads to ``MAX_UPLOAD_BODY`` bytes, everything else to
  ``MAX_JSON_BODY``; a larger body gets 413 before it is read.
"""

from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path

from rag.errors import UsageError

from .errors import BodyTooLarge, error_body

PROTECTED = ("/api", "/v1", "/mcp")
MAX_JSON_BODY = 1 * 2**20
MAX_UPLOAD_BODY = 200 * 2**20
UPLOAD_PATH = "/api/documents"
"""Where files are uploaded to the default collection; ``/api/collections/NAME/documents`` to NAME."""


def read_keys(spec: str | None) -> dict[str, str] | None:
    """The API keys of ``spec`` and the user each names: a key itself (the local user's), or
    ``@FILE`` (so keys stay out of the process list and shell history), whose lines are
    ``user:key`` or a key alone; empty lines and ``#`` comments are skipped. None when empty."""
    from rag.conversations import LOCAL_USER

    if spec is None or not spec.strip():
        return None
    spec = spec.strip()
    if not spec.startswith("@"):
        return {spec: LOCAL_USER}
    path = Path(spec[1:]).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read the API key file {path}: {exc.strerror or exc}") from None
    keys: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, _, key = line.strip().rpartition(":")
        user, key = user.strip() or LOCAL_USER, key.strip()
        if not key or key in keys:
            raise UsageError(f"{path}, line {number}: " + ("a key is empty" if not key else "a key is given twice"))
        keys[key] = user
    if not keys:
        raise UsageError(f"the API key file {path} is empty")
    return keys


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address to bind) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, keys: dict[str, str] | None, ui_login: bool) -> None:
    """Refuse to serve a non-loopback address that neither a key nor a login guards."""
    if not is_loopback(host) and not keys and not ui_login:
        raise UsageError(f"refusing to serve {host} with neither an API key nor a UI login: anyone "
                         "on the network could read and change the documents; pass --api-key "
                         "KEY|@FILE and/or --auth USER:PASSWORD|@FILE, or bind 127.0.0.1")


class Guard:
    """ASGI middleware: the key check on the protected prefixes (a request with a key carries its
    user in ``scope["state"]["user"]``), and the body size limits."""

    def __init__(self, app, *, keys: dict[str, str] | None, loopback: bool):
        self.app = app
        self.keys = {k.encode("utf-8"): user for k, user in keys.items()} if keys else None
        self.loopback = loopback

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.startswith(PROTECTED):
            user, refusal = self.identify(scope)
            if refusal:
                return await _reply(send, 401, refusal, "invalid_api_key", {"www-authenticate": "Bearer"})
            if user:
                scope.setdefault("state", {})["user"] = user
        limit = MAX_UPLOAD_BODY if _is_upload(path) else MAX_JSON_BODY
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _reply(send, 413, f"request body over the limit of {limit // 2**20} MB",
                                "request_too_large")
        await self.app(scope, _limited(receive, limit), send)

    def identify(self, scope) -> tuple[str | None, str | None]:
        """(the user of the request's key, why it may not reach a protected route): a user and
        no refusal, no user (no keys, on loopback) and no refusal, or a refusal."""
        if self.keys is None:
            return None, None if self.loopback else ("this server has no API key: its API answers "
                                                     "only on a loopback address (start it with --api-key)")
        scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
        sent, user = token.strip().encode(), None
        for key, owner in self.keys.items():  # every key compared, in constant time each
            if hmac.compare_digest(sent, key):
                user = owner
        if scheme.lower() != "bearer" or user is None:
            return None, "missing or wrong API key: send the header 'Authorization: Bearer KEY'"
        return user, None


def _is_upload(path: str) -> bool:
    if path == UPLOAD_PATH:
        return True
    parts = path.split("/")  # "", "api", "collections", NAME, "documents"
    return len(parts) == 5 and parts[1:3] == ["api", "collections"] and parts[4] == "documents"


def _limited(receive, limit: int):
    """``receive`` that stops a chunked body (no content-length) once it passes ``limit``."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(f"request body over the limit of {limit // 2**20} MB")
        return message

    return wrapped


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _reply(send, status: int, message: str, code: str, headers: dict | None = None) -> None:
    import json

    body = json.dumps(error_body(message, code)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
