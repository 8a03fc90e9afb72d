"""A realistic little web site on 127.0.0.1 for capture tests and benchmarks.

Standard library only. Pages reference their subresources by relative URL, the way real sites
do: lazy images, a page built by JavaScript from a JSON fetch, redirects, gzip-encoded
responses, a missing image, an Arabic page, a page with a large download, a slow resource,
a link hub for crawl scopes, and a generated site for benchmarks.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import re
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

SERVER_NAME = "nginx/1.24.0 (fixture)"


def png(name: str, size: int = 40) -> bytes:
    """A valid PNG, one colour derived from ``name``: the same name, the same bytes."""
    r, g, b = hashlib.sha256(name.encode()).digest()[:3]
    row = b"\x00" + bytes((r, g, b)) * size
    raw = row * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _page(title: str, body: str, *, lang: str = "en", direction: str = "ltr",
          head: str = "") -> bytes:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}" dir="{direction}">\n<head>\n'
        f'<meta charset="utf-8">\n<title>{title}</title>\n{head}</head>\n'
        f"<body>\n{body}\n</body>\n</html>\n"
    ).encode()


PARAGRAPH = (
    "Witness statements, photographs and videos posted online are often the first and "
    "sometimes the only record of what happened. They are deleted within hours. "
)

INDEX_LINKS = ["/lazy.html", "/js-app.html", "/redirect", "/gzip.html", "/missing-sub.html",
               "/arabic.html", "/big.html", "/slow.html", "/links.html", "/generated/0.html"]

SITE_CSS = (
    "@font-face { font-family: 'Fixture'; src: url(/static/font.woff2) format('woff2'); }\n"
    "body { font-family: 'Fixture', sans-serif; margin: 2em; color: #222; }\n"
    "img { display: block; margin: 1em 0; }\n"
)
SITE_JS = "document.body.dataset.ready = '1';\n"
GZ_CSS = "h1 { color: #036; }\n" * 40
FONT = hashlib.sha256(b"font").digest() * 128  # 4 KiB of deterministic bytes

LAZY_BODY = (
    "<h1>A long page with lazy images</h1>\n"
    + "".join(f"<p>{PARAGRAPH * 3}</p>\n" for _ in range(40))
    + "".join(f'<img loading="lazy" src="/img/lazy-{i}.png" width="40" height="40" '
              f'alt="lazy {i}">\n' for i in range(1, 5))
    + '<div id="feed"></div>\n<div id="end" style="height:10px"></div>\n'
    + """<script>
let loaded = 0;
function more() {
  if (loaded >= 3) return;
  const near = window.innerHeight + window.scrollY >= document.body.scrollHeight - 200;
  if (!near) return;
  loaded += 1;
  const section = document.createElement('section');
  section.innerHTML = '<h2>More ' + loaded + '</h2>' +
    '<p style="height:1500px">' + 'Older posts. '.repeat(50) + '</p>' +
    '<img src="/img/more-' + loaded + '.png" width="40" height="40" alt="more">';
  document.getElementById('feed').appendChild(section);
}
window.addEventListener('scroll', more);
</script>"""
)

JS_APP_BODY = """<h1>Items</h1>
<ul id="items"></ul>
<script>
fetch('/api/items.json').then(r => r.json()).then(data => {
  const list = document.getElementById('items');
  for (const item of data.items) {
    const li = document.createElement('li');
    li.textContent = item.title;
    list.appendChild(li);
  }
  const img = document.createElement('img');
  img.src = data.image;
  document.body.appendChild(img);
});
</script>"""

ITEMS = {
    "items": [
        {"id": 1, "title": "Statement of a witness, 3 March"},
        {"id": 2, "title": "بيان شاهد عيان"},
        {"id": 3, "title": "Satellite image, 4 March"},
    ],
    "image": "/img/from-json.png",
}

ARABIC_BODY = """<h1>أرشيف الأدلة</h1>
<p>تُحذف المنشورات ومقاطع الفيديو التي توثّق الانتهاكات خلال ساعات من نشرها.</p>
<p>يحفظ هذا الأرشيف كل صفحة كما رآها الناس، مع بصمة رقمية وختم زمني لكل ملف.</p>
<p>سلسلة الحيازة تسجّل كل يد مرّت بها الأدلة منذ لحظة جمعها.</p>"""


# A document, a stylesheet, an image and a script's fetch: every kind of request a browser
# makes, for tests comparing the agent the server received with the one recorded.
AGENT_BODY = """<h1>Who is asking</h1>
<img src="/img/agent.png" width="40" height="40" alt="agent">
<p id="agent"></p>
<script>
document.getElementById('agent').textContent = navigator.userAgent;
fetch('/api/items.json').then(r => r.json());
</script>"""


# Writing systems a screenshot must show (each character in its own cell, for a test that
# compares every cell with the "missing glyph" box): emoji, CJK, Urdu, Persian and Arabic.
SCRIPT_SAMPLES: dict[str, tuple[str, list[str], str]] = {
    # name: (lang, characters, a sentence a person reads)
    "emoji": ("en", ["🔥", "🇸🇾", "😀", "📷", "🌍"], "Shelling reported 🔥🇸🇾 📷"),
    "chinese": ("zh-CN", ["中", "文", "证", "据", "档"], "目击者的证词和照片"),
    "japanese": ("ja", ["証", "拠", "写", "真"], "証拠の写真とビデオ"),
    "korean": ("ko", ["증", "거", "사", "진"], "목격자의 증언과 사진"),
    "urdu": ("ur", ["ہ", "ے", "ں", "ڑ", "ٹ", "ھ"], "یہ ویڈیو گواہ نے بنائی ہے"),
    "persian": ("fa", ["پ", "چ", "ژ", "گ", "۴"], "این ویدیو را یک شاهد گرفته است"),
    "arabic": ("ar", ["ع", "ض", "ة", "ق", "ظ"], "صوّر شاهد عيان هذا الفيديو"),
}
# Cell geometry in CSS pixels (the screenshot's pixels at the default scale of 1).
CELL, PITCH, ORIGIN = 64, 72, 8
# A private-use character no font has: the box a browser draws for a missing glyph.
NO_GLYPH = "\U0010FFFD"


def script_cells() -> list[tuple[str, str, str, int, int]]:
    """(row name, lang, text, left, top) of every cell of /scripts.html. Row 0 holds the
    references: an empty cell and the missing-glyph box once and twice (a flag is two
    characters)."""
    rows = [("reference", "en", ["", NO_GLYPH, NO_GLYPH * 2])]
    rows += [(name, lang, chars) for name, (lang, chars, _) in SCRIPT_SAMPLES.items()]
    return [(name, lang, text, ORIGIN + col * PITCH, ORIGIN + row * PITCH)
            for row, (name, lang, chars) in enumerate(rows)
            for col, text in enumerate(chars)]


def scripts_page() -> bytes:
    cells = "".join(
        f'<div class="cell" lang="{lang}" style="left:{left}px;top:{top}px">{text}</div>\n'
        for _name, lang, text, left, top in script_cells())
    below = ORIGIN + (len(SCRIPT_SAMPLES) + 1) * PITCH
    sentences = "".join(
        f'<p lang="{lang}" dir="{"rtl" if lang in ("ur", "fa", "ar") else "ltr"}">{text}</p>\n'
        for lang, _chars, text in SCRIPT_SAMPLES.values())
    style = (f".cell {{ position: absolute; width: {CELL}px; height: {CELL}px; "
             f"line-height: {CELL}px; font: 40px sans-serif; text-align: center; "
             "overflow: hidden; background: #fff; color: #000; }\n"
             f"body {{ margin: 0; background: #fff; }}\n"
             f"#text {{ position: absolute; top: {below}px; left: {ORIGIN}px; "
             "font: 24px sans-serif; }\n")
    return _page("Scripts", f'{cells}<div id="text">\n{sentences}</div>',
                 head=f"<style>\n{style}</style>\n")


@functools.cache
def video_clip() -> bytes:
    """A real 2-second H.264/AAC MP4 (test pattern and a tone), made once with ffmpeg."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=10",
             "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
             "-metadata", "title=Fixture clip", str(out)], check=True)
        return out.read_bytes()


VIDEO_BODY = ('<h1>A post with a video</h1>\n<p>Filmed on the day.</p>\n'
              '<video controls width="160" src="/media/clip.mp4"></video>')
BROKEN_VIDEO_BODY = ('<h1>A video that is gone</h1>\n'
                     '<video controls src="/media/removed.mp4"></video>')


def gzip_page_plain_bytes() -> bytes:
    """The HTML of /gzip.html before compression."""
    return _page("Compressed page", "<h1>Compressed</h1>\n" + f"<p>{PARAGRAPH}</p>\n" * 20,
                 head='<link rel="stylesheet" href="/static/gz.css">\n')


def generated_page(n: int, total: int) -> bytes:
    links = "".join(f'<li><a href="/generated/{(n + k) % total}.html">page {(n + k) % total}'
                    f"</a></li>\n" for k in range(1, 6))
    text = "".join(f"<p>{PARAGRAPH}</p>\n" for _ in range(8))
    return _page(f"Generated page {n}",
                 f"<h1>Generated page {n}</h1>\n{text}"
                 f'<img src="/img/gen-{n % 50}.png" alt="figure">\n<ul>\n{links}</ul>',
                 head='<link rel="stylesheet" href="/static/site.css">\n')


SPLIT_SECTIONS = 6  # /split/: an index, 6 sections, 6 pages each: 43 pages at depth 2


def split_site_page(name: str, n: int = SPLIT_SECTIONS) -> bytes | None:
    """A page of the /split/ site (for crawls read by several processes): ``index.html``
    links to ``n`` sections ``sI.html``, each links to its ``n`` pages ``sI-pJ.html`` and
    back; each page to its neighbours too, so parts find the same links (1 + n + n² pages
    at depth 2). None for a name that is not a page."""
    if name == "index.html":
        title, links = "Split site", [f"s{i}.html" for i in range(n)]
    elif (m := re.fullmatch(r"s(\d+)\.html", name)) and int(m[1]) < n:
        i = int(m[1])
        title, links = f"Section {i}", ["index.html", f"s{(i + 1) % n}.html",
                                        *(f"s{i}-p{j}.html" for j in range(n))]
    elif (m := re.fullmatch(r"s(\d+)-p(\d+)\.html", name)) and int(m[1]) < n > int(m[2]):
        i, j = int(m[1]), int(m[2])
        title, links = f"Section {i} page {j}", [
            "index.html", f"s{i}.html", f"s{i}-p{(j + 1) % n}.html", f"s{(i + 1) % n}-p{j}.html"]
    else:
        return None
    items = "".join(f'<li><a href="{link}">{link}</a></li>\n' for link in links)
    return _page(title, f"<h1>{title}</h1>\n<p>{PARAGRAPH}</p>\n"
                 f'<img src="/img/gen-{len(name) % 7}.png" alt="figure">\n<ul>\n{items}</ul>',
                 head='<link rel="stylesheet" href="/static/site.css">\n')


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    # Headers and body go out in separate writes; without this, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch(head=False)

    # -- responses -------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, *, head: bool,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if self.path.startswith(("/static/", "/img/")):
            self.send_header("Cache-Control", "public, max-age=86400")  # cacheable, on purpose
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _html(self, body: bytes, head: bool, status: int = 200) -> None:
        self._send(status, body, "text/html; charset=utf-8", head=head)

    def _not_found(self, head: bool) -> None:
        self._html(_page("Not found", "<h1>404 Not Found</h1>"), head, status=404)

    def _redirect(self, status: int, location: str, head: bool) -> None:
        self._send(status, b"", "text/html", head=head, extra={"Location": location})

    def _dispatch(self, head: bool) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        self.server.count(path, self.path, self.headers.items())
        routes = {
            "/": lambda: self._html(self._index(), head),
            "/static/site.css": lambda: self._send(200, SITE_CSS.encode(), "text/css",
                                                   head=head),
            "/static/site.js": lambda: self._send(200, SITE_JS.encode(),
                                                  "application/javascript", head=head),
            "/static/font.woff2": lambda: self._send(200, FONT, "font/woff2", head=head),
            "/static/gz.css": lambda: self._gzip(GZ_CSS.encode(), "text/css", head),
            "/lazy.html": lambda: self._html(_page("Lazy images", LAZY_BODY), head),
            "/js-app.html": lambda: self._html(_page("Built by JavaScript", JS_APP_BODY),
                                               head),
            "/api/items.json": lambda: self._send(
                200, json.dumps(ITEMS, ensure_ascii=False).encode(),
                "application/json; charset=utf-8", head=head),
            "/redirect": lambda: self._redirect(302, "/redirect-2", head),
            "/redirect-2": lambda: self._redirect(301, "/final.html", head),
            "/final.html": lambda: self._html(_page("Final page", "<h1>Final page</h1>"),
                                              head),
            "/gzip.html": lambda: self._gzip(gzip_page_plain_bytes(),
                                             "text/html; charset=utf-8", head),
            "/missing-sub.html": lambda: self._html(_page(
                "Missing image", '<h1>Missing</h1>\n<img src="/img/does-not-exist.png">'),
                head),
            "/arabic.html": lambda: self._html(_page("أرشيف الأدلة", ARABIC_BODY, lang="ar",
                                                     direction="rtl"), head),
            "/big.html": lambda: self._html(_page("Large download", (
                "<h1>Large download</h1>\n<script>"
                "fetch('/blob/big.bin?size=3000000').then(r => r.arrayBuffer())"
                "</script>")), head),
            "/slow.html": lambda: self._html(_page(
                "Slow resource", '<h1>Slow</h1>\n<img src="/slow?seconds=30">'), head),
            "/slow": lambda: self._slow(float(query.get("seconds", ["30"])[0]), head),
            "/slow-page": lambda: self._slow(float(query.get("seconds", ["30"])[0]), head,
                                             html=True),
            "/links.html": lambda: self._html(self._links(), head),
            "/video.html": lambda: self._html(_page("A video", VIDEO_BODY), head),
            "/broken-video.html": lambda: self._html(_page("Gone video", BROKEN_VIDEO_BODY),
                                                     head),
            "/media/clip.mp4": lambda: self._send(200, video_clip(), "video/mp4", head=head),
            "/scripts.html": lambda: self._html(scripts_page(), head),
            "/agent.html": lambda: self._html(_page(
                "Who is asking", AGENT_BODY,
                head='<link rel="stylesheet" href="/static/site.css">\n'), head),
            "/cookie.html": lambda: self._send(
                200, _page("Sets a cookie", '<h1>Cookie</h1>\n<img src="/img/logo.png">',
                           head='<link rel="stylesheet" href="/static/site.css">\n'),
                "text/html; charset=utf-8", head=head,
                extra={"Set-Cookie": "session=evidence-42; Path=/; Max-Age=3600",
                       "Cache-Control": "max-age=3600"}),
        }
        if path in routes:
            routes[path]()
        elif path.startswith("/img/") and path.endswith(".png"):
            name = path[len("/img/"):-len(".png")]
            if name.startswith("does-not-exist"):
                self._not_found(head)
            else:
                self._send(200, png(name), "image/png", head=head)
        elif path.startswith("/blob/"):
            self._blob(int(query.get("size", ["1024"])[0]), head)
        elif path.startswith("/crawl/") and path.endswith(".html"):
            self._html(self._crawl(path[len("/crawl/"):-len(".html")]), head)
        elif path.startswith("/split/"):
            # /split/[wN/][dMS/]NAME: N sections (6), each page answered after MS
            # milliseconds (an I/O-bound site, for crawls read by several processes).
            options = re.match(r"(?:w(\d+)/)?(?:d(\d+)/)?", path[len("/split/"):])
            width, delay = int(options[1] or SPLIT_SECTIONS), int(options[2] or 0)
            page = split_site_page(path[len("/split/") + options.end():], min(width, 100))
            if page is None:
                self._not_found(head)
            else:
                time.sleep(delay / 1000)
                self._html(page, head)
        elif path.startswith("/generated/") and path.endswith(".html"):
            try:
                n = int(path[len("/generated/"):-len(".html")])
            except ValueError:
                n = -1
            if 0 <= n < self.server.generated_pages:
                self._html(generated_page(n, self.server.generated_pages), head)
            else:
                self._not_found(head)
        else:
            self._not_found(head)

    def _index(self) -> bytes:
        links = "".join(f'<li><a href="{p}">{p}</a></li>\n' for p in INDEX_LINKS)
        return _page("Isnad fixture site",
                     f'<h1>Isnad fixture site</h1>\n<img src="/img/logo.png" alt="logo">\n'
                     f"<ul>\n{links}</ul>\n"
                     '<script src="/static/site.js"></script>',
                     head='<link rel="stylesheet" href="/static/site.css">\n')

    def _links(self) -> bytes:
        port = self.server.server_address[1]
        return _page("Links", (
            '<h1>Links</h1>\n<ul>\n'
            '<li><a href="/crawl/a.html">a</a></li>\n'
            '<li><a href="/crawl/b.html">b</a></li>\n'
            f'<li><a href="http://localhost:{port}/crawl/other-host.html">other host</a></li>\n'
            '<li><a href="mailto:desk@example.org">mail</a></li>\n'
            '<li><a href="#top">top</a></li>\n</ul>'))

    def _crawl(self, name: str) -> bytes:
        onward = {"a": "/crawl/c.html", "b": "/crawl/c.html", "c": "/crawl/d.html"}
        link = f'<a href="{onward[name]}">next</a>' if name in onward else ""
        return _page(f"Crawl {name}", f"<h1>Crawl {name}</h1>\n<p>{link}</p>")

    def _gzip(self, plain: bytes, content_type: str, head: bool) -> None:
        body = gzip.compress(plain, mtime=0)
        self._send(200, body, content_type, head=head,
                   extra={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})

    def _blob(self, size: int, head: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if head:
            return
        block = hashlib.sha256(b"blob").digest() * 2048  # 64 KiB
        sent = 0
        try:
            while sent < size:
                piece = block[: min(len(block), size - sent)]
                self.wfile.write(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _slow(self, seconds: float, head: bool, html: bool = False) -> None:
        """A body trickled over ``seconds``: an image, or (``html``) a page that is slow to
        arrive, for captures that must still be running when a test acts on them."""
        start = b"<!doctype html><title>Slow page</title><p>" if html else b"\x89PNG\r\n\x1a\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8" if html else "image/png")
        self.send_header("Content-Length", str(int(seconds * 4) + len(start)))
        self.end_headers()
        if head:
            return
        try:
            self.wfile.write(start)
            self.wfile.flush()
            for _ in range(int(seconds * 4)):  # exactly the length announced
                time.sleep(0.25)
                self.wfile.write(b".")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], generated_pages: int) -> None:
        super().__init__(address, _Handler)
        self.generated_pages = generated_pages
        self.hits: dict[str, int] = {}
        # Every request's headers as the server received them, in order: tests compare them
        # with what a capture recorded.
        self.received: list[tuple[str, list[tuple[str, str]]]] = []
        self._lock = threading.Lock()

    def count(self, path: str, target: str = "", headers: Any = ()) -> None:
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            self.received.append((target or path, list(headers)))


class FixtureServer:
    """The fixture site, served from a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, generated_pages: int = 2000,
                 tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate chain file, key file) to serve HTTPS instead of HTTP."""
        self.host = host
        self.tls = tls
        self._port = port
        self.generated_pages = generated_pages
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FixtureServer:
        self._server = _Server((self.host, self._port), self.generated_pages)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def hits(self) -> dict[str, int]:
        assert self._server, "server not started"
        return self._server.hits

    @property
    def received(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """(path with query, request headers) of every request received, oldest first."""
        assert self._server, "server not started"
        return self._server.received

    def url(self, path: str) -> str:
        return self.base_url + path


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the Isnad fixture site.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--pages", type=int, default=2000, help="generated pages")
    args = parser.parse_args()
    server = FixtureServer(port=args.port, generated_pages=args.pages).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
