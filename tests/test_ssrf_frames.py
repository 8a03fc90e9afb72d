"""A gap in the browser's SSRF guard, found while measuring issue 17 (browser capture CPU),
and closed: the redirect hops inside a cross-site frame.

With site isolation, a cross-site frame runs in a renderer of its own, a DevTools target of
its own: the recorder's DevTools session on the page (``Fetch.requestPaused``, which judges
redirect hops) did not see that frame's requests, and Playwright's routes, which do see
them, never see a redirect hop (Playwright's driver follows hops itself). So an image of the
frame that redirected to a refused address was sent there. Chromium now runs every frame in
the page's own renderer and target (``crawlers/settings.py``, ``CHROMIUM_ARGS``).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fixture_site.server import png

pytestmark = pytest.mark.e2e

OTHER_SITE = "frames.isnad.test"  # Chromium maps it to 127.0.0.1; listed as a private origin


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.server.hosts.append(self.headers.get("Host", ""))  # every request that arrived
        port = self.server.server_address[1]
        if self.path == "/framed.html":
            self._send(200, (f'<!doctype html><title>Framed</title><iframe src="http://'
                             f'{OTHER_SITE}:{port}/frame.html"></iframe>').encode(), "text/html")
        elif self.path == "/framed-hop.html":
            self._send(200, (f'<!doctype html><title>Framed</title><iframe src="http://'
                             f'{OTHER_SITE}:{port}/frame-redirect"></iframe>').encode(),
                       "text/html")
        elif self.path == "/frame-redirect":  # the cross-site frame itself redirected
            self.send_response(302)
            self.send_header("Location", f"http://foo.localhost:{port}/frame.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/frame.html":  # the cross-site frame: one image, redirected
            self._send(200, b'<!doctype html><title>Frame</title><img src="/image-redirect">',
                       "text/html")
        elif self.path == "/image-redirect":
            self.send_response(302)
            self.send_header("Location", f"http://foo.localhost:{port}/secret.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.endswith(".png"):
            self._send(200, png("secret"), "image/png")
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hosts: list[str] = []


@pytest.fixture
def intranet():
    server = _Site()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("page, asked", [
    ("framed.html", 2),  # the frame's image redirects
    ("framed-hop.html", 1),  # the frame's own address redirects
])
def test_a_redirect_hop_inside_a_cross_site_frame_is_refused(isnad, intranet, page, asked):
    port = intranet.server_address[1]
    env = {"ISNAD_ALLOW_PRIVATE_NETWORKS": "false", "ISNAD_MEDIA__ENABLED": "false",
           "ISNAD_PRIVATE_ORIGINS": json.dumps([f"127.0.0.1:{port}", f"{OTHER_SITE}:{port}"]),
           "ISNAD_BROWSER__EXTRA_ARGS": json.dumps(
               [f"--host-resolver-rules=MAP {OTHER_SITE} 127.0.0.1"])}
    isnad.capture(f"http://127.0.0.1:{port}/{page}", env=env)
    # The frame (and its image) were asked for: the test reached the hop...
    assert intranet.hosts.count(f"{OTHER_SITE}:{port}") >= asked, intranet.hosts
    # ...and the hop to a name of this machine was never sent.
    assert not any("localhost" in h for h in intranet.hosts), intranet.hosts
