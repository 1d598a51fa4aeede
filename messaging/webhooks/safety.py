"""Server-side request forgery guard for every URL the server fetches on someone's word:
agent webhook URLs and inbound media URLs from provider events.

A URL is checked when a subscription is saved and again before every request (and every
redirect hop of a media fetch), because DNS answers change. The request then goes to the
address that was checked (the host name is kept for the Host header and TLS), so a
rebinding answer between check and connect cannot slip in.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints that are not all covered by the private / link-local ranges.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})

REASON_SCHEME = "URL must use https."
REASON_NO_HOST = "URL must include a host name."
REASON_CREDENTIALS = "URL must not contain a user name or password."
REASON_UNRESOLVABLE = "URL host could not be resolved."
REASON_LOOPBACK = "URL resolves to a loopback address, which is not allowed."
REASON_PRIVATE = "URL resolves to a private, link-local, reserved or metadata address."
REASON_INVALID = "URL is not valid."


class UnsafeUrl(Exception):
    """The URL may not be called. `transient` is set when a later check may succeed (DNS)."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to `request_url` (the pinned address), send `host`."""

    url: str
    request_url: str
    host_header: str
    sni_hostname: str | None


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (tests replace this to stay off the network)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


# IPv6 ranges that carry or translate to IPv4 (6to4, Teredo, NAT64): a gateway on the way
# may deliver them to any IPv4 address, private ones included, so they are refused whole.
TRANSITION_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("2002::/16", "2001::/32", "64:ff9b::/96", "64:ff9b:1::/48")
)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible (`::a.b.c.d`)
    IPv6 address stands for; any other address unchanged."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # `::` and `::1` are IPv6's own
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _is_loopback(ip: IPAddress) -> bool:
    return _embedded_ipv4(ip).is_loopback


def _is_forbidden(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in n for n in TRANSITION_NETWORKS):
        return True
    ip = _embedded_ipv4(ip)
    return (
        ip in METADATA_ADDRESSES
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str, *, allow_loopback: bool | None = None) -> Target:
    """Validate `url` and resolve it to one safe address.

    Raises UnsafeUrl with a human reason. https is required, except for loopback hosts
    when `WEBHOOKS_ALLOW_LOOPBACK` is on (development and the demo).
    """
    if allow_loopback is None:
        allow_loopback = settings.WEBHOOKS_ALLOW_LOOPBACK
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeUrl(REASON_INVALID) from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise UnsafeUrl(REASON_SCHEME)
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl(REASON_CREDENTIALS)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeUrl(REASON_NO_HOST)
    if host in METADATA_HOSTS:
        raise UnsafeUrl(REASON_PRIVATE)
    port = port or (443 if scheme == "https" else 80)

    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = resolve_host(host, port)
        except (OSError, UnicodeError):
            raise UnsafeUrl(REASON_UNRESOLVABLE, transient=True) from None
    if not addresses:
        raise UnsafeUrl(REASON_UNRESOLVABLE, transient=True)

    # Every answer must be safe: a mixed answer would let the resolver pick the bad one.
    loopback = [ip for ip in addresses if _is_loopback(ip)]
    if loopback:
        if not allow_loopback or len(loopback) != len(addresses):
            raise UnsafeUrl(REASON_LOOPBACK)
    elif any(_is_forbidden(ip) for ip in addresses):
        raise UnsafeUrl(REASON_PRIVATE)
    if scheme != "https" and not loopback:
        raise UnsafeUrl(REASON_SCHEME)

    # IPv4 first: dual-stack names like localhost often listen on one family only.
    pinned = _embedded_ipv4(sorted(addresses, key=lambda ip: ip.version)[0])
    pinned_host = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    netloc = f"{pinned_host}:{parts.port}" if parts.port else pinned_host
    request_url = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = f"{host}:{parts.port}" if parts.port else host
    if ":" in host:  # an IPv6 literal keeps its brackets in the Host header
        host_header = f"[{host}]:{parts.port}" if parts.port else f"[{host}]"
    return Target(
        url=url,
        request_url=request_url,
        host_header=host_header,
        sni_hostname=host if scheme == "https" else None,
    )
