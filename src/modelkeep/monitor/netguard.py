"""Outbound HTTP that cannot be pointed at the inside of the network (SSRF guard).

A webhook URL comes from a user's config, so a request to it must not reach loopback, private
networks, link-local or cloud metadata addresses (``169.254.169.254`` hands out credentials).
Checking the URL's host name is not enough: a name can resolve to an inside address, and a
name checked once can resolve elsewhere a moment later (DNS rebinding). So the host is resolved
once per request, *every* address it resolves to is checked, and the connection goes to the
checked address itself: :class:`PinnedTransport` rewrites the request URL to that IP and keeps
the original ``Host`` header and the TLS server name (httpcore's ``sni_hostname`` request
extension), so certificates are still verified against the name.

The client from :func:`guarded_client` never follows redirects (a redirect could name a
forbidden address) and ignores proxy environment variables (a proxy would do its own DNS).

Example:
    >>> policy = AddressPolicy(allow_hosts=("127.0.0.1",))
    >>> forbidden_reason(ipaddress.ip_address("169.254.169.254"))
    'a cloud metadata address'
    >>> with guarded_client(policy, timeout_s=5) as client:  # doctest: +SKIP
    ...     client.post("https://hooks.example/x", json={"text": "hi"})
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from modelkeep.exceptions import InvalidInputError

__all__ = [
    "AddressPolicy",
    "PinnedTransport",
    "Resolver",
    "forbidden_reason",
    "guarded_client",
    "pin_address",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``resolver(host, port)`` -> the IP addresses ``host`` resolves to, as strings."""

# Instance metadata services: AWS/GCP/Azure/Oracle (and AWS's IPv6 one), ECS task metadata,
# Alibaba. Refused even when private addresses are allowed.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "100.100.100.200",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


@dataclass(frozen=True)
class AddressPolicy:
    """Which destinations an outbound request may reach beyond the public internet.

    Attributes:
        allow_hosts: host names (compared with the URL's host, case-insensitively) and IP
            addresses or networks (``"127.0.0.1"``, ``"10.1.0.0/16"``, compared with the
            resolved address) that are reachable even though their addresses are forbidden.
        allow_private: also allow RFC 1918 and unique-local (``fc00::/7``) addresses; loopback,
            link-local, metadata, multicast and unspecified addresses stay forbidden.
    """

    allow_hosts: tuple[str, ...] = ()
    allow_private: bool = False

    def allows(self, host: str, address: IPAddress) -> bool:
        """Whether ``address`` (which ``host`` resolved to) is reachable under this policy."""
        name = host.lower().rstrip(".")
        for entry in self.allow_hosts:
            network = _as_network(entry)
            if network is None:
                if entry.lower().rstrip(".") == name:
                    return True
            elif _unmapped(address) in network or address in network:
                return True
        return forbidden_reason(address, allow_private=self.allow_private) is None


def forbidden_reason(address: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why an outbound request may not connect to ``address``, or None when it may.

    IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) are judged by the IPv4 address they map.

    Args:
        address: the resolved address.
        allow_private: accept RFC 1918 and ``fc00::/7`` addresses.
    """
    address = _unmapped(address)
    embedded = _embedded_ipv4(address)
    if embedded is not None:  # 6to4, Teredo, NAT64, IPv4-compatible: judged by what they wrap
        inner = forbidden_reason(embedded, allow_private=allow_private)
        if inner is not None:
            return f"{inner} inside an IPv6 transition address"
    checks: tuple[tuple[bool, str], ...] = (
        (address in _METADATA, "a cloud metadata address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (getattr(address, "is_site_local", False), "a site-local address (fec0::/10)"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    if any(address in network for network in _PRIVATE if network.version == address.version):
        return None if allow_private else "a private address"
    if not address.is_global:
        return "a reserved, not globally routable address"
    return None


_NAT64 = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition address carries (6to4, Teredo client, NAT64, the
    deprecated IPv4-compatible ``::a.b.c.d``), or None."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 0xFFFF:  # ::a.b.c.d (not :: or ::1)
        return ipaddress.IPv4Address(int(address))
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves ``host`` to (TCP), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def pin_address(
    host: str, port: int, policy: AddressPolicy, resolver: Resolver = system_resolver
) -> str:
    """Resolve ``host`` once and return the address to connect to.

    Every address the name resolves to must be allowed, so a name that round-robins between a
    public and an inside address is refused rather than pinned to whichever came first.

    Raises:
        InvalidInputError: (``field="url"``) an address is forbidden by ``policy``.
        httpx.ConnectError: the name does not resolve (a transient failure: retried).
    """
    try:
        resolved = [ipaddress.ip_address(a) for a in resolver(host, port)]
    except (OSError, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
    if not resolved:
        raise httpx.ConnectError(f"cannot resolve {host}: no addresses")
    for address in resolved:
        if not policy.allows(host, address):
            reason = forbidden_reason(address, allow_private=policy.allow_private)
            shown = host if host == str(address) else f"{host} ({address})"
            raise InvalidInputError(
                f"refused to connect to {shown}: {reason}; list the host in allow_hosts "
                "to allow it",
                field="url",
            )
    return str(resolved[0])


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport that connects only to addresses an :class:`AddressPolicy` allows.

    Each request's host is resolved once with ``resolver``, checked, and the request is sent to
    that IP with the original ``Host`` header and TLS server name, so the address checked is
    the address connected to.

    Args:
        policy: the destinations allowed besides public addresses.
        resolver: name resolution (the system's by default; tests pass their own).
        inner: the transport that does the I/O (a fresh :class:`httpx.HTTPTransport`).
    """

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver = system_resolver,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner if inner is not None else httpx.HTTPTransport(trust_env=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the pinned address of its host."""
        url = request.url
        if url.scheme not in ("http", "https"):
            raise InvalidInputError(f"only http and https URLs are allowed, not {url.scheme}")
        port = url.port or (443 if url.scheme == "https" else 80)
        address = pin_address(url.host, port, self._policy, self._resolver)
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host
        # The headers were built from the original URL, so ``Host`` still names the host.
        pinned = httpx.Request(
            request.method,
            url.copy_with(host=address),
            headers=request.headers,
            stream=request.stream,
            extensions=extensions,
        )
        return self._inner.handle_request(pinned)

    def close(self) -> None:
        """Close the pooled connections."""
        self._inner.close()


def guarded_client(
    policy: AddressPolicy, *, timeout_s: float, resolver: Resolver = system_resolver
) -> httpx.Client:
    """An :class:`httpx.Client` whose requests reach only addresses ``policy`` allows.

    Redirects are not followed and proxy settings from the environment are ignored.

    Args:
        policy: the destinations allowed besides public addresses.
        timeout_s: connect, read, write and pool timeout, in seconds.
        resolver: name resolution (the system's by default).
    """
    return httpx.Client(
        transport=PinnedTransport(policy, resolver=resolver),
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
    )


def _as_network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
