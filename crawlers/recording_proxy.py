"""A recording proxy on 127.0.0.1 for the tools a capture runs besides the browser (yt-dlp and
the ffmpeg it starts): every exchange they make goes into the capture's WARC.

yt-dlp fetches the page again with its own agent, then the media; none of that passes through
the browser. Pointing yt-dlp (and, through it, ffmpeg) at this proxy puts each of their
requests and responses in the capture's WARC as a request/response pair, written by the
project's own :class:`~archiver.warcwriter.CaptureWarc` (the same writer as the crawl).

* Plain HTTP: absolute-form requests, forwarded in origin form.
* HTTPS: ``CONNECT`` is answered by this proxy itself (a man in the middle): the tool's TLS
  ends here, with a certificate issued for the host by a throwaway CA made for this proxy alone
  and trusted only by the tools it serves. The proxy opens its own TLS connection to the
  target and verifies the certificate against the system's trust store (OpenSSL's defaults,
  so ``SSL_CERT_FILE``/``SSL_CERT_DIR`` apply); the chain the target presented is recorded.
* The SSRF guard applies to every upstream connection: names are resolved here, every address
  checked, and the connection made to an address that was checked (no second lookup).
* A configured upstream proxy (``http://``, ``https://``, ``socks5://``, ``socks5h://``) is
  chained, never bypassed; behind it names are resolved at that proxy, as for the crawl.

Bodies stream: each chunk is forwarded to the tool as it arrives, hashed (the record's block
and payload digests) and spooled to a temporary file beside the capture; the WARC record is
written from that file once the response ends, reading it once. Memory stays bounded whatever
the size. The response is stored as the server sent it
(``Content-Encoding`` untouched); a chunked body is stored de-chunked, its
``Transfer-Encoding`` kept as ``X-Orig-Transfer-Encoding``. A response the tool
stopped reading (yt-dlp reads only the start of a file to sniff it) is recorded with what
arrived and ``WARC-Truncated: disconnect``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import logging
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archiver.warcwriter import ORIGINAL_PREFIX, CaptureWarc
from crawlers.netguard import address_problem, literal_address, local_name, origin_key, resolve

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
MAX_HEAD = 64 * 1024          # request or response head (status line and headers)
MAX_REQUEST_BODY = 16 * 1024**2  # a tool's POST (an API query), held in memory
SPOOL_IN_MEMORY = 1024**2     # bodies up to this size never touch the disk
HOP_BY_HOP_PROXY = ("proxy-connection", "proxy-authorization")
IDEMPOTENT = ("GET", "HEAD", "OPTIONS")
REDACTED = "[redacted by Isnad]"


class UpstreamError(Exception):
    """The target (or the chained proxy) could not be reached, or was refused."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RecordingStats:
    """What the proxy did, for the capture context."""

    exchanges: int = 0
    payload_bytes: int = 0
    truncated: int = 0
    servers: dict[str, str] = field(default_factory=dict)
    tls: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unrecorded: list[dict[str, str]] = field(default_factory=list)  # exchanged, not written
    user_agents: dict[str, int] = field(default_factory=dict)  # as in the request records


class RecordingProxy:
    """A forward proxy on an ephemeral loopback port that records into ``warc``.

    Use as a context manager; on exit it stops accepting, closes the connections still open
    and waits for every exchange to be written, so nothing is written after the WARC closes.
    """

    def __init__(self, warc: CaptureWarc, *, spool_dir: Path, allow_private_networks: bool,
                 private_origins: frozenset[str] = frozenset(),
                 upstream_proxy: str | None = None, timeout: float = 30.0,
                 redact: tuple[str, ...] = ()) -> None:
        self.warc = warc
        self.allow_private = allow_private_networks
        self.private_origins = private_origins  # host:port origins allowed on purpose
        self.upstream = _UpstreamProxy.parse(upstream_proxy) if upstream_proxy else None
        self.timeout = timeout
        self.redact = {"proxy-authorization", *(name.lower() for name in redact)}
        self.stats = RecordingStats()
        self._lock = threading.Lock()
        self._folder = tempfile.TemporaryDirectory(prefix="isnad-proxy-", dir=spool_dir)
        self.spool_dir = Path(self._folder.name)
        self.authority = _Authority(self.spool_dir)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> RecordingProxy:
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="isnad-recording-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop, end open connections, wait until every exchange is in the WARC."""
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()  # joins the handler threads (block_on_close)
            self._server = None
        with self._lock:
            self._closed = True
        self._folder.cleanup()

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the proxy for yt-dlp and ffmpeg."""
        assert self._server is not None, "proxy not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_file(self) -> Path:
        """The PEM certificate of this proxy's throwaway CA (what the tools must trust)."""
        return self.authority.ca_file

    # -- recording -------------------------------------------------------------------------
    def record(self, exchange: _Exchange) -> None:
        """Write one finished exchange (request and response) to the WARC."""
        headers = _stored_headers(exchange.response_headers, exchange.body_length,
                                  exchange.chunked)
        with self._lock:
            if self._closed or self.warc.closed:
                self._unrecorded(exchange.url, "it ended after the WARC was closed")
                return
            exchange.body.seek(0)
            try:
                self._write(exchange, headers)
            except Exception as exc:  # noqa: BLE001 - a lost record is said, never silent
                self._unrecorded(exchange.url, f"the WARC could not be written: {_why(exc)}")
                return
            self.stats.exchanges += 1
            self.stats.payload_bytes += exchange.body_length
            self.stats.truncated += int(exchange.truncated)
            agent = next((v for n, v in exchange.request_headers
                          if n.lower() == "user-agent"), "")
            self.stats.user_agents[agent] = self.stats.user_agents.get(agent, 0) + 1
            host = urlsplit(exchange.url).hostname or ""
            if exchange.ip_address:
                self.stats.servers[host] = exchange.ip_address

    def _unrecorded(self, url: str, why: str) -> None:
        log.error("recording proxy: %s not recorded: %s", url, why)
        self.stats.unrecorded.append({"url": url, "reason": why})

    def _write(self, exchange: _Exchange, headers: list[tuple[str, str]]) -> None:
        self.warc.write_exchange(
            url=exchange.url, method=exchange.method,
            request_headers=[(n, REDACTED if n.lower() in self.redact else v)
                             for n, v in exchange.request_headers],
            request_body=exchange.request_body, status=exchange.status,
            reason=exchange.reason, response_headers=headers, body=exchange.body,
            body_length=exchange.body_length, date=exchange.started,
            ip_address=exchange.ip_address, protocol="http/1.1",
            truncated="disconnect" if exchange.truncated else None,
            digests=exchange.digests(),
        )

    def note(self, kind: str, url: str, reason: str) -> None:
        with self._lock:
            target = self.stats.refused if kind == "refused" else self.stats.failed
            entry = {"url": url, "reason": reason}
            if entry not in target:
                target.append(entry)

    def note_tls(self, host: str, info: dict[str, Any]) -> None:
        with self._lock:
            self.stats.tls.setdefault(host, info)

    # -- upstream --------------------------------------------------------------------------
    def connect(self, scheme: str, host: str, port: int) -> _Upstream:
        """A connection to the target (through the chained proxy, if any), guarded."""
        allowed = self.allow_private or origin_key(f"{scheme}://{host}:{port}") in \
            self.private_origins
        if not allowed and local_name(host):
            raise UpstreamError(f"refused: {host} is a name of this machine", 403)
        if self.upstream is None:
            address = self._checked_address(host, allowed)
            try:
                sock = socket.create_connection((address, port), timeout=self.timeout)
            except OSError as exc:
                raise UpstreamError(f"cannot connect to {host}:{port}: {_why(exc)}") from exc
            upstream = _Upstream(sock, address, via_proxy=False)
        else:
            literal = literal_address(host)
            if literal and not allowed and address_problem(literal):
                raise UpstreamError(_refusal(host, literal), 403)
            upstream = self.upstream.open(scheme, host, port, self.timeout)
        if scheme == "https":
            upstream.start_tls(host, self)
        return upstream

    def _checked_address(self, host: str, allowed: bool) -> str:
        try:
            addresses = resolve(host)
        except Exception as exc:  # noqa: BLE001 - CaptureFailed: a DNS failure, said plainly
            raise UpstreamError(str(exc)) from exc
        if not allowed:
            for address in addresses:
                if address_problem(address):
                    raise UpstreamError(_refusal(host, address), 403)
        if not addresses:
            raise UpstreamError(f"DNS lookup failed for {host}")
        return addresses[0]


def _refusal(host: str, address: str) -> str:
    return (f"refused: {host} resolves to {address}, {address_problem(address)}; set "
            "ISNAD_ALLOW_PRIVATE_NETWORKS=true to capture private networks on purpose")


def _why(exc: BaseException) -> str:
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).splitlines()[0]


def _authority(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}"


def _stored_headers(headers: list[tuple[str, str]], length: int, chunked: bool
                    ) -> list[tuple[str, str]]:
    """Response headers true to the stored body: a de-chunked body gets its length, and the
    ``Transfer-Encoding`` the server sent is kept under the original-prefix name."""
    if not chunked:
        return headers
    out = [(ORIGINAL_PREFIX + "Transfer-Encoding", v) if n.lower() == "transfer-encoding"
           else (n, v) for n, v in headers if n.lower() != "content-length"]
    return [*out, ("Content-Length", str(length))]


# -- the throwaway certificate authority ------------------------------------------------------

class _Authority:
    """A CA made for one proxy, and the per-host certificates it issues (kept on disk only in
    the proxy's temporary folder, removed when the proxy stops)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        now = datetime.datetime.now(datetime.UTC)
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                             "Isnad recording proxy (throwaway CA)")])
        self._cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()),
                           critical=False)
            .sign(self._key, hashes.SHA256()))
        self.ca_file = folder / "proxy-ca.pem"
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._key_file = folder / "leaf-key.pem"
        self._key_file.write_bytes(self._leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def server_context(self, host: str) -> ssl.SSLContext:
        """The TLS context that presents a certificate for ``host`` to the tool."""
        with self._lock:
            if host not in self._contexts:
                self._contexts[host] = self._issue(host)
            return self._contexts[host]

    def _issue(self, host: str) -> ssl.SSLContext:
        now = datetime.datetime.now(datetime.UTC)
        literal = literal_address(host)
        san: x509.GeneralName = (x509.IPAddress(ipaddress.ip_address(literal)) if literal
                                 else x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self._cert.subject).public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256()))
        chain = self.folder / f"leaf-{len(self._contexts):04d}.pem"
        chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                          + self._cert.public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, self._key_file)
        context.set_alpn_protocols(["http/1.1"])  # the proxy speaks HTTP/1.1 only
        return context


# -- upstream connections ---------------------------------------------------------------------

@dataclass(frozen=True)
class _UpstreamProxy:
    """The proxy configured for the capture, which the recording proxy chains to."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> _UpstreamProxy:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
            raise ValueError(f"not a proxy URL: {url!r}")
        default = {"http": 80, "https": 443}.get(scheme, 1080)
        return cls(scheme, parts.hostname, parts.port or default,
                   unquote(parts.username) if parts.username is not None else None,
                   unquote(parts.password) if parts.password is not None else None)

    @property
    def basic_auth(self) -> str | None:
        if self.username is None:
            return None
        token = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")

    def open(self, scheme: str, host: str, port: int, timeout: float) -> _Upstream:
        """Connect through this proxy to host:port (plain HTTP to an HTTP proxy: the requests
        themselves go to the proxy, in absolute form)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise UpstreamError(f"the proxy {self.host}:{self.port} is unreachable: "
                                f"{_why(exc)}") from exc
        proxy_ip = sock.getpeername()[0]
        try:
            if self.scheme.startswith("socks"):
                _socks5_connect(sock, host, port, self.username, self.password)
                return _Upstream(sock, proxy_ip, via_proxy=True)
            if self.scheme == "https":
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self.host)
            if scheme == "http":
                return _Upstream(sock, proxy_ip, via_proxy=True, absolute_form=True,
                                 proxy_auth=self.basic_auth)
            _http_connect(sock, host, port, self.basic_auth)
            return _Upstream(sock, proxy_ip, via_proxy=True)
        except (OSError, UpstreamError) as exc:
            sock.close()
            if isinstance(exc, UpstreamError):
                raise
            raise UpstreamError(f"the proxy {self.host}:{self.port} failed: {_why(exc)}"
                                ) from exc


def _http_connect(sock: socket.socket, host: str, port: int, auth: str | None) -> None:
    target = _authority(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if auth:
        lines.append(f"Proxy-Authorization: {auth}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    reader = _Reader(sock)
    head = reader.head()
    if head is None:
        raise UpstreamError("the proxy closed the connection on CONNECT")
    status = head[0].split(" ", 2)
    if len(status) < 2 or status[1] != "200":
        raise UpstreamError(f"the proxy refused CONNECT {target}: {head[0]}")


def _socks5_connect(sock: socket.socket, host: str, port: int, username: str | None,
                    password: str | None) -> None:
    """RFC 1928 CONNECT (names sent to the proxy, which resolves them), RFC 1929 auth."""
    methods = b"\x00\x02" if username is not None else b"\x00"
    sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
    version, method = _exactly(sock, 2)
    if version != 5 or method == 0xFF:
        raise UpstreamError("the SOCKS proxy accepts none of our authentication methods")
    if method == 2:
        user, secret = (username or "").encode(), (password or "").encode()
        sock.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(secret)]) + secret)
        if _exactly(sock, 2)[1] != 0:
            raise UpstreamError("the SOCKS proxy refused the username and password")
    literal = literal_address(host)
    if literal and ":" in literal:
        address = b"\x04" + socket.inet_pton(socket.AF_INET6, literal)
    elif literal:
        address = b"\x01" + socket.inet_aton(literal)
    else:
        name = host.encode("idna")
        address = b"\x03" + bytes([len(name)]) + name
    sock.sendall(b"\x05\x01\x00" + address + struct.pack("!H", port))
    _version, reply, _reserved, kind = _exactly(sock, 4)
    if reply != 0:
        raise UpstreamError(f"the SOCKS proxy could not connect to {host}:{port} "
                            f"(reply {reply})")
    _exactly(sock, {1: 4, 4: 16}.get(kind) or _exactly(sock, 1)[0])
    _exactly(sock, 2)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise UpstreamError("the proxy closed the connection")
        data += chunk
    return data


class _Upstream:
    """One connection to a target (or to the chained HTTP proxy, for plain HTTP)."""

    def __init__(self, sock: socket.socket, ip_address: str, *, via_proxy: bool,
                 absolute_form: bool = False, proxy_auth: str | None = None) -> None:
        self.sock = sock
        self.ip_address = ip_address
        self.via_proxy = via_proxy
        self.absolute_form = absolute_form
        self.proxy_auth = proxy_auth
        self.reader = _Reader(sock)

    def start_tls(self, host: str, proxy: RecordingProxy) -> None:
        """Verify the target's certificate (system trust store, host name) and record it."""
        context = ssl.create_default_context()
        context.set_alpn_protocols(["http/1.1"])
        try:
            tls = context.wrap_socket(self.sock, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            self.sock.close()
            raise UpstreamError(f"TLS error: the certificate of {host} could not be verified "
                                f"({exc.verify_message})") from exc
        except (ssl.SSLError, OSError) as exc:
            self.sock.close()
            raise UpstreamError(f"TLS handshake with {host} failed: {_why(exc)}") from exc
        self.sock = tls
        self.reader = _Reader(tls)
        proxy.note_tls(host, _tls_details(tls))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _tls_details(tls: ssl.SSLSocket) -> dict[str, Any]:
    """Protocol, cipher and the chain the target presented (as verified), in PEM."""
    chain: list[str] = []
    sslobj = getattr(tls, "_sslobj", None)
    verified = getattr(sslobj, "get_verified_chain", None)  # public from Python 3.13
    try:
        if verified is not None:
            chain = [c.public_bytes() for c in verified()]  # PEM by default
    except (AttributeError, ValueError, ssl.SSLError):
        chain = []
    if not chain:
        leaf = tls.getpeercert(binary_form=True)
        chain = [ssl.DER_cert_to_PEM_cert(leaf)] if leaf else []
    cipher = tls.cipher()
    peer = tls.getpeercert() or {}
    return {"protocol": tls.version(), "cipher": cipher[0] if cipher else None,
            "subject": _rdn(peer.get("subject")), "issuer": _rdn(peer.get("issuer")),
            "valid_from": peer.get("notBefore"), "valid_to": peer.get("notAfter"),
            "chain_pem": chain, "verified_by": "the recording proxy (system trust store)"}


def _rdn(value: Any) -> str | None:
    if not value:
        return None
    return ", ".join(f"{k}={v}" for rdn in value for k, v in rdn)


# -- HTTP/1.1 on sockets ----------------------------------------------------------------------

class _Reader:
    """Buffered reads from a socket: heads by line, bodies by size."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(CHUNK)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def head(self) -> list[str] | None:
        """The lines of a head (status or request line first), or None at a clean close."""
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                raise UpstreamError("head larger than 64 KiB")
            if not self._fill():
                if self.buffer.strip():
                    raise UpstreamError("the connection closed in the middle of a head")
                return None
        raw, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return raw.decode("latin-1").split("\r\n")

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                raise UpstreamError("line too long")
            if not self._fill():
                raise UpstreamError("the connection closed in the middle of a chunk")
        raw, _, self.buffer = self.buffer.partition(b"\r\n")
        return raw + b"\r\n"

    def some(self, limit: int) -> bytes:
        """Up to ``limit`` bytes (at least one), or b'' at the end of the stream."""
        if not self.buffer and not self._fill():
            return b""
        data, self.buffer = self.buffer[:limit], self.buffer[limit:]
        return data

    def exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            piece = self.some(size - len(data))
            if not piece:
                raise UpstreamError("the connection closed early")
            data += piece
        return data


def _headers(lines: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            pairs.append((name.strip(), value.strip()))
    return pairs


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for n, v in headers if n.lower() == name), None)


@dataclass
class _Exchange:
    url: str
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    started: datetime.datetime
    ip_address: str | None
    body: BinaryIO
    status: int = 0
    reason: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body_length: int = 0
    chunked: bool = False
    truncated: bool = False
    # Taken as the body arrives. The block digest starts with the head the record will hold,
    # known up front unless the body is chunked (its stored head gets the length at the end).
    payload_hash: Any = field(default_factory=hashlib.sha256)
    block_hash: Any = None

    def digests(self) -> tuple[str, str] | None:
        """(block, payload) SHA-256 in hex, or None when the block's could not be taken."""
        if self.block_hash is None:
            return None
        return self.block_hash.hexdigest(), self.payload_hash.hexdigest()


class _ClientGone(Exception):
    """The tool closed its connection while the response was being forwarded."""


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.proxy = self.server.proxy
        self.request.settimeout(self.proxy.timeout)
        self.server.track(self.request)

    def finish(self) -> None:
        self.server.untrack(self.request)

    def handle(self) -> None:
        client: socket.socket = self.request
        reader = _Reader(client)
        try:
            head = reader.head()
            if head is None:
                return
            method, target, _version = (head[0].split(" ", 2) + ["", ""])[:3]
            if method.upper() == "CONNECT":
                self._tunnel(client, reader, target)
            else:
                self._serve(client, reader, head, None)
        except (OSError, UpstreamError, ValueError) as exc:
            log.debug("recording proxy: connection ended: %s", exc)

    def _tunnel(self, client: socket.socket, reader: _Reader, target: str) -> None:
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        context = self.proxy.authority.server_context(host)
        tls = context.wrap_socket(client, server_side=True)
        self.server.track(tls)  # the plain socket was handed over to the TLS one
        try:
            self._serve(tls, _Reader(tls), None, ("https", host, int(port or 443)))
        finally:
            self.server.untrack(tls)

    def _serve(self, client: socket.socket, reader: _Reader, head: list[str] | None,
               origin: tuple[str, str, int] | None) -> None:
        """Requests of one client connection, in turn (keep-alive), each forwarded and
        recorded."""
        upstreams: dict[tuple[str, str, int], _Upstream] = {}
        try:
            while True:
                if head is None:
                    head = reader.head()
                    if head is None:
                        return
                keep = self._one(client, reader, head, origin, upstreams)
                head = None
                if not keep:
                    return
        finally:
            for upstream in upstreams.values():
                upstream.close()

    def _one(self, client: socket.socket, reader: _Reader, head: list[str],
             origin: tuple[str, str, int] | None,
             upstreams: dict[tuple[str, str, int], _Upstream]) -> bool:
        method, target, version = (head[0].split(" ", 2) + ["", ""])[:3]
        headers = _headers(head[1:])
        if origin is not None:
            scheme, host, port = origin
            path = target
            url = f"https://{_authority(host, port)}{target}" if port != 443 else \
                f"https://{_host_text(host)}{target}"
        else:
            parts = urlsplit(target)
            if parts.scheme != "http" or not parts.hostname:
                _answer(client, 400, "the recording proxy takes absolute http:// URLs")
                return False
            scheme, host, port = "http", parts.hostname, parts.port or 80
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            url = target
        length = int(_header(headers, "content-length") or 0)
        if length > MAX_REQUEST_BODY or _header(headers, "transfer-encoding"):
            _answer(client, 413, "request bodies over 16 MiB or chunked are not relayed")
            return False
        body = reader.exactly(length) if length else b""
        key = (scheme, host, port)
        for attempt in (1, 2):
            reused = key in upstreams
            upstream = upstreams.get(key)
            if upstream is None:
                try:
                    upstream = self.proxy.connect(scheme, host, port)
                except UpstreamError as exc:
                    self.proxy.note("refused" if exc.status == 403 else "failed", url,
                                    str(exc))
                    _answer(client, exc.status, str(exc))
                    return False
                upstreams[key] = upstream
            outcome = self._exchange(client, upstream, url, method, path, version, headers,
                                     body, retry=reused and attempt == 1
                                     and method.upper() in IDEMPOTENT)
            if outcome == "retry":  # a kept-alive connection the server had closed
                upstreams.pop(key, None)
                upstream.close()
                continue
            if outcome != "keep":
                upstreams.pop(key, None)
                upstream.close()
            return outcome == "keep" and \
                (_header(headers, "connection") or "").lower() != "close"
        return False

    def _exchange(self, client: socket.socket, upstream: _Upstream, url: str, method: str,
                  path: str, version: str, headers: list[tuple[str, str]], body: bytes, *,
                  retry: bool) -> str:
        """Send one request upstream, relay and record its response: ``keep`` (the upstream
        connection may serve again), ``close``, ``failed``, or ``retry`` (nothing came back
        on a reused connection: to be sent again on a new one)."""
        sent = [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP_PROXY]
        if upstream.absolute_form:  # plain HTTP through the chained HTTP proxy
            line = f"{method} {url} {version}"
            if upstream.proxy_auth:
                sent.append(("Proxy-Authorization", upstream.proxy_auth))
        else:
            line = f"{method} {path} {version}"
        wire = "\r\n".join([line, *(f"{n}: {v}" for n, v in sent)]) + "\r\n\r\n"
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=self.proxy.spool_dir) as spool:
            exchange = _Exchange(url, method, sent, body, datetime.datetime.now(datetime.UTC),
                                 upstream.ip_address, spool)
            try:
                upstream.sock.sendall(wire.encode("latin-1") + body)
                keep = self._relay(client, upstream, exchange)
            except (_ClientGone, UpstreamError, OSError) as exc:
                if exchange.status:  # a response began: record what arrived, truncated
                    exchange.truncated = True
                    self.proxy.record(exchange)
                    return "failed"
                if retry and not isinstance(exc, _ClientGone):
                    return "retry"
                host = urlsplit(url).hostname
                self.proxy.note("failed", url, f"no response: {_why(exc)}")
                if not isinstance(exc, _ClientGone):
                    _answer(client, 502, f"no response from {host}: {_why(exc)}")
                return "failed"
            self.proxy.record(exchange)
        return "keep" if keep else "close"


    def _relay(self, client: socket.socket, upstream: _Upstream, exchange: _Exchange) -> bool:
        """Forward the response as it arrives and spool its body; True if the upstream
        connection may carry another request."""
        reader = upstream.reader
        while True:
            lines = reader.head()
            if lines is None:
                raise UpstreamError("the server closed the connection without answering")
            status_line = lines[0].split(" ", 2)
            status = int(status_line[1])
            raw_head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            if 100 <= status < 200 and status != 101:
                _send(client, raw_head)  # an interim answer: the final one follows
                continue
            break
        exchange.status = status
        exchange.reason = status_line[2] if len(status_line) > 2 else ""
        exchange.response_headers = _headers(lines[1:])
        _send(client, raw_head)
        headers = exchange.response_headers
        encoding = (_header(headers, "transfer-encoding") or "").lower()
        length = _header(headers, "content-length")
        if exchange.method.upper() == "HEAD" or status in (204, 304) or status == 101:
            return status != 101
        if "chunked" not in encoding:  # the stored head is the head received
            exchange.block_hash = hashlib.sha256(self.proxy.warc.response_head(
                exchange.status, exchange.reason, headers, int(length or 0)))
        if "chunked" in encoding:
            exchange.chunked = True
            self._relay_chunked(client, reader, exchange)
        elif length is not None:
            remaining = int(length)
            while remaining:
                data = reader.some(min(CHUNK, remaining))
                if not data:
                    raise UpstreamError("the server closed the connection early")
                self._pass(client, exchange, data)
                remaining -= len(data)
        else:  # delimited by the end of the connection
            while data := reader.some(CHUNK):
                self._pass(client, exchange, data)
            return False
        return (_header(headers, "connection") or "").lower() != "close"

    def _relay_chunked(self, client: socket.socket, reader: _Reader,
                       exchange: _Exchange) -> None:
        while True:
            size_line = reader.line()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            _send(client, size_line)
            if size == 0:
                while (trailer := reader.line()) != b"\r\n":
                    _send(client, trailer)
                _send(client, b"\r\n")
                return
            remaining = size
            while remaining:
                data = reader.some(min(CHUNK, remaining))
                if not data:
                    raise UpstreamError("the server closed the connection in a chunk")
                self._pass(client, exchange, data)
                remaining -= len(data)
            _send(client, reader.exactly(2))

    @staticmethod
    def _pass(client: socket.socket, exchange: _Exchange, data: bytes) -> None:
        exchange.payload_hash.update(data)
        if exchange.block_hash is not None:
            exchange.block_hash.update(data)
        exchange.body.write(data)
        exchange.body_length += len(data)
        _send(client, data)


def _send(client: socket.socket, data: bytes) -> None:
    try:
        client.sendall(data)
    except OSError as exc:
        raise _ClientGone(str(exc)) from exc


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _answer(client: socket.socket, status: int, message: str) -> None:
    """The proxy's own answer to the tool (never recorded: nothing reached the target)."""
    body = (message + "\n").encode("utf-8")
    # The reason phrase carries the why, so the tool's own error message says it.
    reason = " ".join(message.split())[:300].encode("latin-1", "replace").decode("latin-1")
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    try:
        client.sendall(head.encode("latin-1") + body)
    except OSError:
        pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True  # server_close() waits for every exchange to be recorded
    allow_reuse_address = True

    def __init__(self, proxy: RecordingProxy) -> None:
        self.proxy = proxy
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def track(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(sock)

    def close_connections(self) -> None:
        """End the tools' idle keep-alive connections so their threads finish."""
        with self._open_lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


__all__ = ["RecordingProxy", "RecordingStats", "UpstreamError"]
