"""HTTPS: the certificate chain is recorded; an untrusted certificate is a clear TLS error."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archiver.states import CaptureState
from tests.fixture_site import FixtureServer
from tests.waczutil import responses

pytestmark = pytest.mark.e2e


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Isnad test CA")])


@pytest.fixture(scope="module")
def https_site(tmp_path_factory):
    """An HTTPS fixture site with a leaf certificate issued by a test CA (chain of two)."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Isnad Test Root"))
          .issuer_name(_name("Isnad Test Root")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name("127.0.0.1"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = folder / "chain.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                      + ca.public_bytes(serialization.Encoding.PEM))
    key_file = folder / "key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    spki = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    server = FixtureServer(generated_pages=10, tls=(str(chain), str(key_file))).start()
    server.leaf = leaf
    server.spki_pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    yield server
    server.stop()


def test_untrusted_certificate_is_a_clear_tls_error(isnad, https_site):
    run = isnad("capture", https_site.url("/final.html"))
    assert run.code == 2
    assert "TLS error: the certificate is not signed by a trusted authority" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_tls_chain_and_protocol_recorded(isnad, https_site):
    # Trust this one test key (and nothing else) the way an operator would pin a certificate.
    pin = json.dumps([f"--ignore-certificate-errors-spki-list={https_site.spki_pin}"])
    # The pin is Chromium's; yt-dlp (media) verifies certificates itself and would rightly
    # refuse this test CA, so media is off here (test_media covers it).
    rec = isnad.capture(https_site.url("/"), env={"ISNAD_BROWSER__EXTRA_ARGS": pin,
                                                  "ISNAD_MEDIA__ENABLED": "false"})
    assert rec["state"] == CaptureState.COMPLETE, rec
    tls = rec["context"]["tls"]["127.0.0.1"]
    assert tls["protocol"].startswith("TLS 1.")
    assert tls["subject"] == "127.0.0.1"
    leaf_pem = https_site.leaf.public_bytes(serialization.Encoding.PEM).decode()
    assert tls["chain_pem"][0] == leaf_pem
    assert len(tls["chain_pem"]) == 2
    assert https_site.url("/static/site.css") in responses(rec["package_location"])


def test_untrusted_certificate_refused_in_plain_http_mode_too(isnad, https_site):
    run = isnad("capture", "--no-browser", https_site.url("/final.html"))
    assert run.code == 2
    assert "TLS error: the certificate could not be verified" in run.stdout
