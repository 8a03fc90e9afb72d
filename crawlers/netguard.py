"""The SSRF guard: targets that resolve to this machine's or a private network are refused.

An investigator's URL must never make Isnad read the operator's own network (a router's admin
page, a cloud metadata service) into a package that leaves the building.

Behind a proxy this machine connects to the proxy only and names are resolved there: the
guard then checks IP literals and localhost names but resolves no names itself, so no DNS
query leaves this machine for the sites an investigator looks at (and names only the proxy
knows, such as .onion through Tor, can be captured). What a name resolves to at the proxy is
the proxy's network's concern.

Without a proxy, what the guard allowed is checked once more when the answer arrives
(:meth:`HostGuard.connected_refusal`): the address the request was actually sent to. See
docs/ssrf-guard.md for the whole policy and the DNS-rebinding window.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from archiver.errors import CaptureFailed, CaptureRefused

# Cloud metadata services that are not covered by the link-local range.
METADATA_ADDRESSES = {
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}

# IPv6 forms that carry an IPv4 address a router or translator will deliver to: the IPv4
# address inside is judged as if written plainly (2002:7f00:1:: is 127.0.0.1 by 6to4).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a local network's translator
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d

# Names Chromium answers itself, without asking DNS (net::IsLocalHostname): they always mean
# this machine, whatever DNS or /etc/hosts say.
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6"}


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (mapped, compatible, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:  # (server, client): the client address is stored obfuscated, decoded here
        found.extend(ip.teredo)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_problem(address: str) -> str | None:
    """Why an IP address may not be fetched, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return "a local NAT64 address (64:ff9b:1::/48)"
        for inner in _embedded_ipv4(ip):
            problem = address_problem(str(inner))
            if problem:
                return f"{problem} ({inner}, inside the IPv6 address)"
        if ip in _NAT64:
            return None  # a public IPv4 address, reached through the network's translator
    if ip in METADATA_ADDRESSES or ip == ipaddress.ip_address("169.254.169.254"):
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private or ip.is_reserved or ip.is_unspecified or ip.is_multicast:
        return "a private or reserved address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a carrier-grade NAT address"
    if not ip.is_global:
        return "an address that is not publicly routable"
    return None


def local_name(host: str) -> bool:
    """Is ``host`` a name for this machine by definition (``localhost``, any of its
    subdomains, with or without the trailing dot, in any case)?"""
    name = host.lower().rstrip(".")
    return name in _LOCAL_NAMES or name.endswith(".localhost")


_ADVICE = ("set ISNAD_ALLOW_PRIVATE_NETWORKS=true to capture private networks on purpose, "
           "or list the origin in ISNAD_PRIVATE_ORIGINS")


def _refusal(host: str, addresses: list[str]) -> str | None:
    for address in addresses:
        problem = address_problem(address)
        if problem:
            return f"refused: {host} resolves to {address}, {problem}; {_ADVICE}"
    return None


def _name_refusal(host: str) -> str | None:
    if local_name(host):
        return (f"refused: {host} is a name of this machine (the browser resolves it to "
                f"a loopback address itself); {_ADVICE}")
    return None


def origin_key(url: str) -> str | None:
    """``host:port`` of an http(s) URL (the port made explicit), as private origins are listed."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not host or port is None:
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normalise_origins(origins: Iterable[str]) -> frozenset[str]:
    """Private origins as configured (``host:port``, ``[v6]:port``, or a URL) as origin keys."""
    keys = set()
    for origin in origins:
        text = origin.strip()
        key = origin_key(text if "://" in text else f"http://{text}")
        if key is None:
            raise ValueError(f"not a host:port origin: {origin!r}")
        keys.add(key)
    return frozenset(keys)


def validate_url(url: str) -> str:
    """Reject what is not an absolute http(s) URL with a host; return it unchanged."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number 0-65535
    except ValueError as exc:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
        raise CaptureRefused(f"not a valid URL: {url!r} ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname \
            or any(c.isspace() for c in parts.netloc):
        hint = ""
        if "://" not in url and "." in url.split("/", 1)[0] and not url[:1].isspace():
            hint = f" (did you mean 'https://{url}'?)"
        raise CaptureRefused(f"not an http(s) URL: {url!r}{hint}")
    return url


def resolve(host: str) -> list[str]:
    """The addresses ``host`` resolves to here (CaptureFailed when it does not)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise CaptureFailed(f"DNS lookup failed for {host}: {exc.strerror}") from exc
    return sorted({info[4][0] for info in infos})


def literal_address(host: str) -> str | None:
    """The host itself when it is an IP address, else None."""
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


def check_target(url: str, allow_private: bool, proxied: bool = False,
                 private_origins: Iterable[str] = ()) -> list[str]:
    """Validate a URL and resolve its host; refuse private targets. Return the addresses.

    ``proxied``: the request goes through a proxy, which resolves names; only an IP literal
    (and a name of this machine) is checked. ``private_origins``: origin keys (see
    :func:`origin_key`) the operator allows on private networks."""
    validate_url(url)
    host = urlsplit(url).hostname or ""
    allowed = allow_private or origin_key(url) in private_origins
    if not allowed:
        refusal = _name_refusal(host)
        if refusal:
            raise CaptureRefused(refusal)
    if proxied:
        literal = literal_address(host)
        addresses = [literal] if literal else []
    else:
        addresses = resolve(host)
    if not allowed:
        refusal = _refusal(host, addresses)
        if refusal:
            raise CaptureRefused(refusal)
    return addresses


class HostGuard:
    """Cached checks for every request a capture makes (redirects, subresources), before it
    is sent (:meth:`refusal`) and, once answered, of the address it was actually sent to
    (:meth:`connected_refusal`).

    A name that does not resolve here is refused: the browser resolves some names itself
    (``*.localhost``) and may reach through another resolver what this check cannot see."""

    def __init__(self, allow_private: bool, proxied: bool = False,
                 private_origins: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.proxied = proxied  # names are resolved at the proxy: only IP literals are checked
        self.private_origins = frozenset(private_origins)
        self._verdicts: dict[str, str | None] = {}

    def _exempt(self, url: str) -> bool:
        """Not checked: not sent over the network, or allowed on purpose."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss"):
            return True  # data:, blob: and the like never leave the browser
        return self.allow_private or origin_key(url) in self.private_origins

    def _before_resolving(self, host: str) -> str | None:
        refusal = _name_refusal(host)
        if refusal is None and self.proxied:
            literal = literal_address(host)
            refusal = _refusal(host, [literal]) if literal else None
        return refusal

    @staticmethod
    def _unresolved(host: str, error: str) -> str:
        return (f"refused: {host} does not resolve here ({error}); a name the guard cannot "
                "check is not fetched")

    async def refusal(self, url: str) -> str | None:
        """Why the URL may not be fetched, or None."""
        if self._exempt(url):
            return None
        host = urlsplit(url).hostname or ""
        if host not in self._verdicts:
            verdict = self._before_resolving(host)
            if verdict is None and not self.proxied:
                try:
                    verdict = _refusal(host, await asyncio.to_thread(resolve, host))
                except CaptureFailed as exc:
                    verdict = self._unresolved(host, str(exc).rpartition(": ")[2])
            self._verdicts[host] = verdict
        return self._verdicts[host]

    def refusal_sync(self, url: str) -> str | None:
        """:meth:`refusal` for callers outside the event loop (Scrapy's downloader)."""
        if self._exempt(url):
            return None
        host = urlsplit(url).hostname or ""
        if host not in self._verdicts:
            verdict = self._before_resolving(host)
            if verdict is None and not self.proxied:
                try:
                    verdict = _refusal(host, resolve(host))
                except CaptureFailed as exc:
                    verdict = self._unresolved(host, str(exc).rpartition(": ")[2])
            self._verdicts[host] = verdict
        return self._verdicts[host]

    def connected_refusal(self, url: str, address: str | None) -> str | None:
        """Why an answer from ``address`` (where the request for ``url`` was actually sent)
        may not be kept, or None. Closes what resolving beforehand leaves open: a name that
        resolved to a public address here and to a private one when the request was made
        (DNS rebinding), or a resolver of the browser's own. Behind a proxy the address is
        the proxy's, which is not judged."""
        if self.proxied or not address or self._exempt(url):
            return None
        try:
            problem = address_problem(address)
        except ValueError:
            return None  # not an IP address (a socket path, say): nothing to judge
        if problem is None:
            return None
        host = urlsplit(url).hostname or ""
        return (f"refused after the fact: {host} was reached at {address}, {problem}; "
                f"the answer was discarded; {_ADVICE}")
