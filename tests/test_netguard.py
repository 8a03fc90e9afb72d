"""The SSRF guard's judgement of addresses and URLs."""

import pytest

from archiver.errors import CaptureFailed, CaptureRefused
from crawlers.netguard import address_problem, check_target


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1",
    "fe80::1", "fd00:ec2::254", "0.0.0.0", "::ffff:127.0.0.1", "100.64.0.1",
])
def test_private_addresses_are_refused(address):
    assert address_problem(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_pass(address):
    assert address_problem(address) is None


def test_metadata_address_is_named():
    assert "metadata" in address_problem("169.254.169.254")


def test_loopback_target_refused_with_a_clear_message():
    with pytest.raises(CaptureRefused, match="loopback.*ISNAD_ALLOW_PRIVATE_NETWORKS"):
        check_target("http://127.0.0.1:9/page", allow_private=False)


def test_loopback_allowed_on_purpose():
    assert check_target("http://127.0.0.1:9/page", allow_private=True) == ["127.0.0.1"]


@pytest.mark.parametrize("url", ["ftp://example.org/", "not a url", "http:///nohost", ""])
def test_bad_urls_refused(url):
    with pytest.raises(CaptureRefused, match="not an http"):
        check_target(url, allow_private=False)


def test_dns_failure_is_reported():
    with pytest.raises(CaptureFailed, match="DNS lookup failed for no-such-host.invalid"):
        check_target("http://no-such-host.invalid/", allow_private=False)


def test_host_guard_checks_every_request_url():
    import asyncio

    from crawlers.netguard import HostGuard

    guard = HostGuard(allow_private=False)
    refusal = asyncio.run(guard.refusal("http://127.0.0.1:8080/redirect-target"))
    assert refusal and "loopback" in refusal
    assert asyncio.run(guard.refusal("data:image/png;base64,AAAA")) is None
    assert guard.refusal_sync("http://localhost/") and "loopback" in guard.refusal_sync(
        "http://localhost/")
    assert HostGuard(allow_private=True).refusal_sync("http://127.0.0.1/") is None


def test_behind_a_proxy_names_are_not_resolved_here(monkeypatch):
    import socket

    from crawlers import netguard

    def no_dns(*args, **kwargs):  # any lookup would leak the investigated name to local DNS
        raise AssertionError(f"resolved locally: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert check_target("http://exampleonionaddress.onion/post", False, proxied=True) == []
    guard = netguard.HostGuard(allow_private=False, proxied=True)
    assert guard.refusal_sync("https://no-such-host.invalid/") is None
    # An IP literal still names its address: a private one is refused, proxy or not.
    with pytest.raises(CaptureRefused, match="loopback"):
        check_target("http://127.0.0.1:9/", False, proxied=True)
    assert "private" in guard.refusal_sync("http://10.0.0.8/admin")
