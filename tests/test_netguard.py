"""The SSRF guard's judgement of addresses and URLs."""

import asyncio

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


# -- names Chromium resolves itself, and names that do not resolve -----------------------------

@pytest.mark.parametrize("host", [
    "localhost", "localhost.", "LOCALHOST", "foo.localhost", "foo.localhost.", "a.b.LocalHost",
    "localhost.localdomain", "localhost6",
])
def test_names_of_this_machine_are_refused_by_name(host):
    from crawlers.netguard import HostGuard

    url = f"http://{host}:8080/"
    with pytest.raises(CaptureRefused, match="name of this machine"):
        check_target(url, allow_private=False)
    guard = HostGuard(allow_private=False)
    assert "name of this machine" in guard.refusal_sync(url)
    assert "name of this machine" in asyncio.run(guard.refusal(url))
    # Behind a proxy too: the proxy's own loopback is no better than ours.
    assert "name of this machine" in HostGuard(False, proxied=True).refusal_sync(url)


@pytest.mark.parametrize("host", ["localhost.example.org", "notlocalhost", "localhostx.org"])
def test_names_that_merely_contain_localhost_are_judged_by_their_address(host):
    from crawlers.netguard import local_name

    assert not local_name(host)


def test_a_name_that_does_not_resolve_is_refused_not_waved_through(monkeypatch):
    import socket

    from crawlers.netguard import HostGuard

    real = socket.getaddrinfo

    def lookup(host, *args, **kwargs):  # the resolver's answer, without asking a DNS server
        if host == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    guard = HostGuard(allow_private=False)
    for refusal in (guard.refusal_sync("http://no-such-host.invalid/x.png"),
                    asyncio.run(HostGuard(False).refusal("http://no-such-host.invalid/x.png"))):
        assert refusal and "does not resolve" in refusal and "no-such-host.invalid" in refusal
    # Deliberately allowed private networks: nothing is judged (the browser reports DNS errors).
    assert HostGuard(allow_private=True).refusal_sync("http://no-such-host.invalid/") is None


# -- IPv6 forms that lead to an IPv4 address ---------------------------------------------------

@pytest.mark.parametrize("address", [
    "2002:7f00:1::",                               # 6to4 of 127.0.0.1
    "2002:a00:1::1",                               # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::",                            # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:80ff:fffe",        # Teredo, client 127.0.0.1 (obfuscated)
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",        # Teredo, client 10.0.0.1 (obfuscated)
    "64:ff9b::7f00:1",                             # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",                          # NAT64 of 169.254.169.254
    "64:ff9b:1::5db8:d822",                        # local-use NAT64, whatever it embeds
    "::ffff:10.0.0.1", "::ffff:169.254.169.254",   # IPv4-mapped
    "::127.0.0.1", "::10.0.0.1",                   # IPv4-compatible (deprecated)
])
def test_ipv6_forms_of_forbidden_ipv4_addresses_are_refused(address):
    assert address_problem(address), address


def test_the_embedded_address_is_named():
    problem = address_problem("2002:7f00:1::")
    assert "loopback" in problem and "127.0.0.1" in problem
    assert "metadata" in address_problem("64:ff9b::a9fe:a9fe")


@pytest.mark.parametrize("address", [
    "2002:5db8:d822::1",                           # 6to4 of the public 93.184.216.34
    "64:ff9b::5db8:d822",                          # NAT64 of 93.184.216.34
])
def test_ipv6_forms_of_public_ipv4_addresses_pass(address):
    assert address_problem(address) is None


# -- after the fact: the address the request was actually sent to ----------------------------

def test_an_answer_from_a_forbidden_address_is_refused_after_the_fact():
    from crawlers.netguard import HostGuard

    guard = HostGuard(allow_private=False)
    refusal = guard.connected_refusal("http://rebound.example/", "127.0.0.1")
    assert refusal and "rebound.example was reached at 127.0.0.1" in refusal
    assert "loopback" in refusal and "discarded" in refusal
    assert guard.connected_refusal("http://x.example/", "::ffff:192.168.0.1")
    assert guard.connected_refusal("http://x.example/", "93.184.216.34") is None
    assert guard.connected_refusal("http://x.example/", None) is None  # nothing to judge
    # Behind a proxy the address is the proxy's own (often on loopback): not judged.
    assert HostGuard(False, proxied=True).connected_refusal("http://x.example/",
                                                            "127.0.0.1") is None
    assert HostGuard(True).connected_refusal("http://x.example/", "127.0.0.1") is None


# -- private origins allowed on purpose -------------------------------------------------------

def test_a_listed_private_origin_passes_and_nothing_else_does():
    from crawlers.netguard import HostGuard, normalise_origins

    origins = normalise_origins(["127.0.0.1:8080", "[::1]:9"])
    assert check_target("http://127.0.0.1:8080/a", False, private_origins=origins)
    guard = HostGuard(allow_private=False, private_origins=origins)
    assert guard.refusal_sync("http://127.0.0.1:8080/a") is None
    assert guard.refusal_sync("http://[::1]:9/") is None
    assert guard.connected_refusal("http://127.0.0.1:8080/a", "127.0.0.1") is None
    # The same machine by another port, another spelling or a name is still refused.
    assert guard.refusal_sync("http://127.0.0.1:8081/")
    assert guard.refusal_sync("http://127.1:8080/")
    assert guard.refusal_sync("http://localhost:8080/")
    assert guard.refusal_sync("http://foo.localhost:8080/")
    assert guard.connected_refusal("http://rebound.example:8080/", "127.0.0.1")
    with pytest.raises(CaptureRefused):
        check_target("http://localhost.:8080/", False, private_origins=origins)


def test_private_origins_are_normalised_and_checked():
    from crawlers.netguard import normalise_origins

    assert normalise_origins(["Intranet.Example", "https://10.0.0.5", "[::1]:9"]) == {
        "intranet.example:80", "10.0.0.5:443", "[::1]:9"}
    with pytest.raises(ValueError, match="not a host:port origin"):
        normalise_origins(["10.0.0.5:http"])


def test_private_origins_setting(monkeypatch):
    from archiver.errors import IsnadError
    from isnad.config import load_settings

    monkeypatch.setenv("ISNAD_PRIVATE_ORIGINS", '["10.0.0.5:8080", "Intranet.Example"]')
    assert load_settings().private_origins == ["10.0.0.5:8080", "intranet.example:80"]
    monkeypatch.setenv("ISNAD_PRIVATE_ORIGINS", '["10.0.0.5:port"]')
    with pytest.raises(IsnadError, match="private_origins.*not a host:port origin"):
        load_settings()
    monkeypatch.delenv("ISNAD_PRIVATE_ORIGINS")
    assert load_settings().private_origins == []
