"""A real RFC 3161 time-stamping authority on 127.0.0.1 for tests: ``openssl ts -reply``
behind a small HTTP server, with its own root CA, made fresh by the ``openssl`` command line.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OPENSSL = "/usr/bin/openssl"
POLICY = "1.2.3.4.1"

# `openssl ca` rather than `req -x509`/`x509 -req`: only it takes a start date in OpenSSL 3.0,
# and the TSA certificate must already be valid a day ago.
CONFIG = """\
[req]
distinguished_name = req_dn
prompt = no

[req_dn]

[ca]
default_ca = test_ca

[test_ca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/ca-serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none

[any_name]
commonName = supplied

[root_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[tsa_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

# Read by `openssl ts -reply`. `certs` stays unset: the reply then carries only the signer
# certificate (when the request asks for it), not the chain.
[tsa]
default_tsa = test_tsa

[test_tsa]
dir = {dir}
serial = $dir/tsa-serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
"""


def openssl(*args: str | Path) -> None:
    proc = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed:\n{proc.stderr}")


def _asn1_time(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%SZ")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        tsa = self.server.tsa
        tsa.requests += 1
        query = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if tsa.down:
            self._send(503, b"time-stamping service unavailable\n", "text/plain")
            return
        try:
            reply = tsa.reply(query)
        except RuntimeError as exc:
            self._send(500, str(exc).encode(), "text/plain")
            return
        self._send(200, reply, "application/timestamp-reply")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tsa: LocalTSA) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tsa = tsa


class LocalTSA:
    """A TSA with its own root CA in ``workdir``; set ``down`` to answer HTTP 503."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.root_pem = workdir / "root.pem"
        self.tsa_cert_pem = workdir / "tsa.pem"
        self.config = workdir / "openssl.cnf"
        self.down = False
        self.requests = 0
        self._lock = threading.Lock()  # openssl ts -reply rewrites the serial file
        self._make_pki()
        # Bound now so the URL is known before start(); serving begins in start().
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/tsr"
        self._thread: threading.Thread | None = None

    def _make_pki(self) -> None:
        work = self.workdir
        (work / "issued").mkdir(parents=True, exist_ok=True)
        (work / "index.txt").write_text("")
        (work / "ca-serial").write_text("1000\n")
        (work / "tsa-serial").write_text("01\n")
        self.config.write_text(CONFIG.format(dir=work, policy=POLICY))
        now = datetime.now(UTC)
        valid = ("-startdate", _asn1_time(now - timedelta(days=1)),
                 "-enddate", _asn1_time(now + timedelta(days=3650)))
        for name, subject in (("root", "/CN=Isnad Test Root CA"), ("tsa", "/CN=Isnad Test TSA")):
            openssl("req", "-new", "-config", self.config, "-subj", subject,
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
                    "-keyout", work / f"{name}.key", "-out", work / f"{name}.csr")
        openssl("ca", "-batch", "-notext", "-config", self.config, "-selfsign",
                "-keyfile", work / "root.key", "-extensions", "root_ext", *valid,
                "-in", work / "root.csr", "-out", self.root_pem)
        openssl("ca", "-batch", "-notext", "-config", self.config,
                "-cert", self.root_pem, "-keyfile", work / "root.key",
                "-extensions", "tsa_ext", *valid,
                "-in", work / "tsa.csr", "-out", self.tsa_cert_pem)

    def reply(self, query: bytes) -> bytes:
        """The DER TimeStampResp that ``openssl ts -reply`` gives for a DER TimeStampReq."""
        with self._lock, tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            query_file, reply_file = Path(tmp) / "query.tsq", Path(tmp) / "reply.tsr"
            query_file.write_bytes(query)
            openssl("ts", "-reply", "-config", self.config,
                    "-queryfile", query_file, "-out", reply_file)
            return reply_file.read_bytes()

    def config_entry(self, name: str = "local-tsa") -> dict[str, str]:
        """This TSA as an entry of Isnad's TSA settings."""
        return {"name": name, "url": self.url, "ca_file": str(self.root_pem),
                "certs_file": str(self.tsa_cert_pem)}

    def start(self) -> LocalTSA:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread:  # shutdown() waits for serve_forever(), so only once it has run
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LocalTSA:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
