"""The SSRF guard: targets that resolve to this machine's or a private network are refused.

An investigator's URL must never make Isnad read the operator's own network (a router's admin
page, a cloud metadata service) into a package that leaves the building.

Behind a proxy this machine connects to the proxy only and names are resolved there: the
guard then checks IP literals but resolves no names itself, so no DNS query leaves this machine
for the sites an investigator looks at (and names only the proxy knows, such as .onion through
Tor, can be captured). What a name resolves to at the proxy is the proxy's network's concern.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from archiver.errors import CaptureFailed, CaptureRefused

# Cloud metadata services that are not covered by the link-local range.
METADATA_ADDRESSES = {
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}


def address_problem(address: str) -> str | None:
    """Why an IP address may not be fetched, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
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
    return None


def _refusal(host: str, addresses: list[str]) -> str | None:
    for address in addresses:
        problem = address_problem(address)
        if problem:
            return (
                f"refused: {host} resolves to {address}, {problem}; set "
                "ISNAD_ALLOW_PRIVATE_NETWORKS=true to capture private networks on purpose"
            )
    return None


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


def check_target(url: str, allow_private: bool, proxied: bool = False) -> list[str]:
    """Validate a URL and resolve its host; refuse private targets. Return the addresses.

    ``proxied``: the request goes through a proxy, which resolves names; only an IP literal
    is checked."""
    validate_url(url)
    host = urlsplit(url).hostname or ""
    if proxied:
        literal = literal_address(host)
        addresses = [literal] if literal else []
    else:
        addresses = resolve(host)
    if not allow_private:
        refusal = _refusal(host, addresses)
        if refusal:
            raise CaptureRefused(refusal)
    return addresses


class HostGuard:
    """Cached, asynchronous checks for every request a capture makes (redirects, subresources)."""

    def __init__(self, allow_private: bool, proxied: bool = False) -> None:
        self.allow_private = allow_private
        self.proxied = proxied  # names are resolved at the proxy: only IP literals are checked
        self._verdicts: dict[str, str | None] = {}

    def _proxied_verdict(self, host: str) -> str | None:
        literal = literal_address(host)
        return _refusal(host, [literal]) if literal else None

    async def refusal(self, url: str) -> str | None:
        """Why the URL may not be fetched, or None."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return None  # data:, blob: and the like never leave the browser
        if self.allow_private:
            return None
        host = parts.hostname or ""
        if self.proxied:
            return self._proxied_verdict(host)
        if host not in self._verdicts:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, None, proto=socket.IPPROTO_TCP
                )
                addresses = sorted({info[4][0] for info in infos})
                self._verdicts[host] = _refusal(host, addresses)
            except socket.gaierror:
                self._verdicts[host] = None  # the browser will report the DNS failure itself
        return self._verdicts[host]

    def refusal_sync(self, url: str) -> str | None:
        parts = urlsplit(url)
        if self.allow_private or parts.scheme not in ("http", "https"):
            return None
        host = parts.hostname or ""
        if self.proxied:
            return self._proxied_verdict(host)
        if host not in self._verdicts:
            try:
                self._verdicts[host] = _refusal(host, resolve(host))
            except CaptureFailed:
                self._verdicts[host] = None
        return self._verdicts[host]
