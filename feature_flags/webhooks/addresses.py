"""Where webhooks may be sent: not to this host, link-local or cloud metadata addresses, judged where they connect.

A webhook's URL is an admin's, but its deliveries are made from inside the network and their outcomes are shown
(status codes, "could not connect"), so an address on loopback or a metadata service would turn the delivery log
into a port scanner and a window on the instance's credentials. Private ranges stay allowed: internal receivers
(a chat bridge, a CI system) are common. The check is made on every address a name resolves to, at connection
time (a name can be pointed elsewhere after the webhook is made), before any packet is sent to it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services: the link-local one most clouds use, AWS's IPv6 one and Alibaba's.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
# Names that mean this host or a metadata service whatever a resolver says, with the address each stands for.
KNOWN_NAMES = {
    "localhost": ipaddress.ip_address("127.0.0.1"),
    "metadata.google.internal": ipaddress.ip_address("169.254.169.254"),
    "metadata": ipaddress.ip_address("169.254.169.254"),
}


class AddressRefused(NewConnectionError):
    """Every address of a webhook's host is one deliveries are not sent to."""

    def __init__(self, connection: HTTPConnection, reason: str) -> None:
        super().__init__(connection, f"address not allowed ({reason})")
        self.reason = reason


def refusal(address: IpAddress, allowed: Iterable[IpNetwork] = ()) -> str | None:
    """Why deliveries are not sent to this address (a few words), or None if they may be."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return None
    if address in METADATA_ADDRESSES:
        return "metadata service"
    for reason, test in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
    ):
        if test:
            return reason
    return None


def literal_address(host: str) -> IpAddress | None:
    """The address a host written as a number stands for (127.1, 2130706433, 0x7f000001, [::1]), else None."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # The C library's reading, which the resolver also applies: 127.1 and 0x7f000001 are 127.0.0.1.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def host_refusal(host: str, allowed: Iterable[IpNetwork] = ()) -> str | None:
    """Why a webhook's host is refused when it is made (a name meaning this host, or a refused literal)."""
    name = host.rstrip(".").lower()
    if name.endswith(".localhost"):
        name = "localhost"
    address = KNOWN_NAMES.get(name) or literal_address(name)
    return refusal(address, allowed) if address is not None else None


class _Guarded:
    """A connection that connects only to addresses `refusal` allows, trying each allowed one in turn."""

    allowed: tuple[IpNetwork, ...] = ()

    def _new_conn(self) -> socket.socket:
        try:
            found = socket.getaddrinfo(self._dns_host, self.port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        reasons = []
        failure: OSError | None = None
        for family, kind, protocol, _, address in found:
            reason = refusal(ipaddress.ip_address(address[0].partition("%")[0]), self.allowed)
            if reason is not None:
                reasons.append(reason)
                continue
            sock = socket.socket(family, kind, protocol)
            try:
                sock.settimeout(self.timeout)
                sock.connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except TimeoutError as error:
                sock.close()
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from error
            except OSError as error:
                sock.close()
                failure = error
        if failure is not None:
            raise NewConnectionError(self, f"Failed to establish a new connection: {failure}") from failure
        raise AddressRefused(self, reasons[0] if reasons else "no address")


def guarded_pools(allowed: tuple[IpNetwork, ...]) -> dict[str, type[HTTPConnectionPool]]:
    """Return the connection pool classes (by scheme) of a PoolManager that sends only where `refusal` allows."""
    http = type("GuardedHTTPConnection", (_Guarded, HTTPConnection), {"allowed": allowed})
    https = type("GuardedHTTPSConnection", (_Guarded, HTTPSConnection), {"allowed": allowed})
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
    }
