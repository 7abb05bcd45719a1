"""The connections qa/fetch.py makes: resolved once, refused unless every address is allowed, then
made to those same addresses, each read and write ending by the fetch's deadline.

Apart from qa/fetch.py because httpcore is imported only when a link is fetched.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from qa.addresses import REFUSED, AddressPolicy, IPAddress, PrivateAddressError


def guarded_transport(policy: AddressPolicy, deadline: float) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes through GuardedBackend."""
    transport = httpx.HTTPTransport(verify=tls_context(), trust_env=False)
    # httpx takes no network backend of its own: its connection pool is rebuilt with ours, with the
    # TLS context httpx makes (certificates verified against the link's host name, not the address).
    transport._pool = httpcore.ConnectionPool(ssl_context=tls_context(), network_backend=GuardedBackend(policy, deadline))
    return transport


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context httpx makes, made once a process: loading its certificates takes about 90 ms,
    which a context made for each link paid twice (bench/RESULTS.md, "Keeping feeds fresh").
    A context is shared safely by connections; it holds no connection's state."""
    return httpx.create_ssl_context(trust_env=False)


def resolved(host: str, port: int) -> list[tuple[int, Any]]:
    """Every (family, socket address) a host name or address literal stands for."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot find the host {host}") from exc
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos if family in (socket.AF_INET, socket.AF_INET6)]


def address_of(sockaddr: Any) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") is not part of it


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self.inner, self.deadline = inner, deadline

    def _within(self, timeout: float | None, kind: type[Exception]) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise kind("the fetch's deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self._within(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self._within(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> DeadlineStream:
        tls = self.inner.start_tls(ssl_context, server_hostname, self._within(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(tls, self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """Resolves the host once, refuses it unless every address is allowed, then connects to those
    same addresses (never resolving again, so DNS cannot answer otherwise in between)."""

    def __init__(self, policy: AddressPolicy, deadline: float) -> None:
        self.policy, self.deadline = policy, deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> DeadlineStream:
        addresses = resolved(host, port)
        if not addresses or not all(self.policy.allows(address_of(a)) for _, a in addresses):
            raise PrivateAddressError(REFUSED)
        failure: Exception = httpcore.ConnectError(f"cannot connect to {host}")
        for _, sockaddr in addresses:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("the fetch's deadline passed")
            try:
                # An address literal: connecting to it resolves nothing.
                inner = super().connect_tcp(sockaddr[0], port, left if timeout is None else min(timeout, left), local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return DeadlineStream(inner, self.deadline)
        raise failure
