"""The HTTP server every platform stand-in runs on: 127.0.0.1, a port of its own, a thread.

A platform fixture subclasses :class:`PlatformHandler` (its routes in ``do_GET``/``do_POST``)
and :class:`PlatformFixture` (naming the handler). Every request is logged, with its headers,
so tests can check what was sent (e.g. that a session reached only the platform's hosts).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[PlatformHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        self.requests: list[dict[str, Any]] = []


class PlatformHandler(BaseHTTPRequestHandler):
    """Routes of one platform stand-in; helpers to answer in the platform's shapes."""

    server: _Server

    @property
    def base(self) -> str:
        """The stand-in's own base URL (it serves the platform's web, API and media)."""
        return self.server.base

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.requests.append({"method": self.command, "path": self.path,
                                     "headers": dict(self.headers.items())})

    def body(self) -> bytes:
        """The request body (POST)."""
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, body: bytes, content_type: str,
             headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, data: object, headers: dict[str, str] | None = None
                  ) -> None:
        self.send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"),
                  "application/json; charset=utf-8", headers)

    def send_html(self, status: int, page: str, headers: dict[str, str] | None = None) -> None:
        self.send(status, page.encode("utf-8"), "text/html; charset=utf-8", headers)

    def redirect(self, location: str, status: int = 302) -> None:
        self.send(status, b"", "text/html; charset=utf-8", {"Location": location})

    def not_found(self) -> None:
        self.send(404, b"<html><body>Not found</body></html>", "text/html")


class PlatformFixture:
    """A platform stand-in, started and stopped around the tests that use it."""

    handler: ClassVar[type[PlatformHandler]]

    def __init__(self) -> None:
        self.server = _Server(self.handler)
        self.base = self.server.base
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received so far: method, path, headers."""
        return self.server.requests

    def start(self) -> PlatformFixture:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):  # noqa: ANN204 - the subclass
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
