"""A Chroma server's client whose calls are retried while the server restarts."""

from __future__ import annotations

import logging
import time

from .errors import ChromaUnavailableError

log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0
"""How long the calls to a Chroma server that does not answer are retried, in all."""


class RetryingClient:
    """A chromadb client, or a collection got from it, whose calls are retried while the server
    does not answer (a restart): after 0.25 s, then twice as long each time up to 8 s, for
    ``RETRY_SECONDS`` in all; then ``ChromaUnavailableError(down_message)``. The store's calls
    (get, query, upsert, delete) are idempotent, so repeating one that was applied is harmless."""

    def __init__(self, inner, down_message: str):
        self._inner = inner
        self.down_message = down_message

    def __getattr__(self, name: str):
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            from chromadb.api.models.Collection import Collection

            result = self._retry(value, args, kwargs)
            return RetryingClient(result, self.down_message) if isinstance(result, Collection) else result

        return call

    def _retry(self, fn, args, kwargs):
        import httpx

        started, delay = time.monotonic(), 0.25
        while True:
            try:
                return fn(*args, **kwargs)
            except httpx.TransportError as exc:
                waited = time.monotonic() - started
                if waited + delay > RETRY_SECONDS:
                    raise ChromaUnavailableError(f"{self.down_message} (retried for {waited:.0f} s)") from exc
                log.warning("the Chroma server did not answer (%s); retrying in %.2f s", exc, delay)
                time.sleep(delay)
                delay = min(2 * delay, 8.0)
