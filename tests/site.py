"""A real web server on 127.0.0.1 for the tests of web pages (the ``site`` fixture): each path
serves what a test put there, answers a conditional request with 304 when the page's ETag or
Last-Modified has not changed, and logs every request it gets with its headers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class Site:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, headers), in order
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def page(self, path: str, body: bytes | str, *, status: int = 200, kind: str = "text/html; charset=utf-8",
             **headers: str) -> str:
        """Serve ``body`` at ``path`` (headers as keywords: ``ETag=``, ``Location=``); its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        named = {k.replace("_", "-"): v for k, v in headers.items()}
        self.routes[path] = Route(data, status, {"Content-Type": kind, **named})
        return self.url(path)

    def asked(self, path: str) -> list[dict[str, str]]:
        """The headers of each request for ``path``."""
        return [h for p, h in self.requests if p == path]


def _handler(site: Site):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            site.requests.append((self.path, headers))
            route = site.routes.get(self.path, Route(b"<h1>Not Found</h1>", 404))
            etag, modified = route.headers.get("ETag"), route.headers.get("Last-Modified")
            if route.status == 200 and ((etag and headers.get("if-none-match") == etag)
                                        or (modified and headers.get("if-modified-since") == modified)):
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, *args) -> None:
            pass

    return Handler
