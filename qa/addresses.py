"""Which addresses a link may reach: public ones always, internal ones only when the user allows
them (`Settings.allow_private_urls`). qa/fetch.py refuses a link with PrivateAddressError when any
address its host resolves to is not allowed; qa/guarded_net.py checks every connection.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from qa.errors import SourceError

REFUSED = (
    "refused: the link leads to a loopback, private or other internal address "
    "(set QA_ALLOW_PRIVATE_URLS=1, or use `qa add --allow-private-urls`, to allow such links)"
)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class PrivateAddressError(SourceError):
    """A link whose host is, or resolves to, an address that is not public."""


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses links may reach: public ones always; others when allowed."""

    allow_all: bool = False
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, value: str) -> AddressPolicy:
        """From QA_ALLOW_PRIVATE_URLS: empty or "0" nothing more, "1" any address, or a
        comma-separated list of addresses and networks ("10.1.0.0/16,192.168.1.20")."""
        value = value.strip().lower()
        if value in ("", "0", "false", "no", "off"):
            return cls()
        if value in ("1", "true", "yes", "on", "all"):
            return cls(allow_all=True)
        networks = []
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise SourceError(
                    f"QA_ALLOW_PRIVATE_URLS={value!r}: {part!r} is neither 1 nor an address or network such as 10.1.0.0/16"
                ) from None
        return cls(networks=tuple(networks))

    def allows(self, address: IPAddress) -> bool:
        return self.allow_all or is_public(address) or any(address in n for n in self.networks if n.version == address.version)


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local, multicast,
    reserved or unspecified, seen through IPv4-mapped and NAT64 IPv6 forms."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
