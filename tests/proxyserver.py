"""A forward proxy on 127.0.0.1 for the tests: HTTP (absolute-form requests and CONNECT) and
SOCKS5 (no authentication, CONNECT) on the same port, the first byte telling which.

Every connection it makes is logged (protocol, target, and the path of plain HTTP requests),
so a test can show that each part of a capture (platform reader, page, browser, yt-dlp) went
through the proxy and nothing went around it.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ProxiedConnection:
    protocol: str       # "http", "connect" or "socks5"
    target: str         # host:port the proxy connected to
    path: str = ""      # the request path of a plain HTTP request


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(30)
        first = client.recv(1, socket.MSG_PEEK)
        if not first:
            return
        if first == b"\x05":
            self._socks5(client)
        else:
            self._http(client)

    def _socks5(self, client: socket.socket) -> None:
        _version, methods = _read(client, 2)
        _read(client, methods)
        client.sendall(b"\x05\x00")  # no authentication
        _version, command, _reserved, kind = _read(client, 4)
        if kind == 1:
            host = socket.inet_ntoa(_read(client, 4))
        elif kind == 3:
            host = _read(client, _read(client, 1)[0]).decode("idna")
        else:
            host = socket.inet_ntop(socket.AF_INET6, _read(client, 16))
        port = struct.unpack("!H", _read(client, 2))[0]
        if command != 1:
            client.sendall(b"\x05\x07\x00\x01" + b"\0" * 6)  # command not supported
            return
        upstream = self._connect(client, "socks5", host, port, b"\x05\x05\x00\x01" + b"\0" * 6)
        if upstream is None:
            return
        client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\0\0")
        _pipe(client, upstream)

    def _http(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = self._connect(client, "connect", host.strip("[]"), int(port),
                                     b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            if upstream is None:
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            _pipe(client, upstream)
            return
        # An absolute-form request: forward it in origin form, one request per connection.
        scheme, _, after = target.partition("://")
        authority, slash, path = after.partition("/")
        host, _, port = authority.partition(":")
        headers = [line for line in lines[1:]
                   if not line.lower().startswith(("proxy-", "connection:", "keep-alive:"))]
        upstream = self._connect(client, "http", host, int(port or 80),
                                 b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
                                 path=slash + path)
        if upstream is None:
            return
        request = "\r\n".join([f"{method} {slash + path or '/'} {version}", *headers,
                               "Connection: close"]) + "\r\n\r\n"
        upstream.sendall(request.encode("latin-1") + rest)
        _pipe(client, upstream)

    def _connect(self, client: socket.socket, protocol: str, host: str, port: int,
                 refusal: bytes, path: str = "") -> socket.socket | None:
        self.server.log.append(ProxiedConnection(protocol, f"{host}:{port}", path))
        try:
            return socket.create_connection((self.server.names.get(host, host), port),
                                            timeout=30)
        except OSError:
            client.sendall(refusal)
            return None


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return data


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    """Copy both ways until either side closes."""

    def copy(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    other = threading.Thread(target=copy, args=(upstream, client), daemon=True)
    other.start()
    copy(client, upstream)
    other.join(30)
    upstream.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.log: list[ProxiedConnection] = []
        self.names = names


class ProxyServer:
    """``with ProxyServer() as proxy:`` → ``proxy.http_url``, ``proxy.socks_url``, ``proxy.log``.

    ``names`` are host names only this proxy resolves (name → address): a request for one of
    them can only have come through the proxy."""

    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.server = _Server(dict(names or {}))
        port = self.server.server_address[1]
        self.http_url = f"http://127.0.0.1:{port}"
        self.socks_url = f"socks5://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def log(self) -> list[ProxiedConnection]:
        return self.server.log

    def __enter__(self) -> ProxyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
