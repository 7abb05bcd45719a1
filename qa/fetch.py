"""Links → bytes: http(s) only, public addresses only, one deadline, a size limit, a clear user agent.

The one place that reaches the network, and only when a user asks for a link (`qa add URL`, a
feed's entries): nothing else in the product does. A link is a request made on the user's behalf
from wherever the product runs, often a server inside a network, so it must never become a way in:

- every address a host resolves to must be public (not loopback, private, link-local, multicast,
  reserved or unspecified, IPv4 inside IPv6 included), after every redirect, unless the user
  switched that on (`Settings.allow_private_urls`); the check happens before any connection, and
  the connection goes to the very address checked, so a DNS answer cannot change in between;
- every refused address gets the same message, so refusals cannot be used to map a network;
- the timeout is a deadline for the whole fetch (connecting, redirects, headers, the last byte),
  not per read: a server dripping a byte at a time cannot hold the caller;
- credentials written into a link (`user:pw@host`) are used for the request but never kept.

The check sits in an httpcore network backend (qa/guarded_net.py, where httpx opens its
connections) because no maintained library does all of the above for a synchronous client:
gradio's safehttpx is async, follows no redirects, accepts a host if any one of its addresses is
public, and asks dns.google.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qa.addresses import REFUSED, AddressPolicy, PrivateAddressError
from qa.errors import SourceError

USER_AGENT = "newsqa/0.1 (question answering over news articles; +https://pypi.org/project/newsqa/)"
TIMEOUT_S = 15.0
MAX_REDIRECTS = 5
NOT_MODIFIED = 304


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects, without credentials
    data: bytes  # empty when the server answered 304 Not Modified
    content_type: str
    status: int = 200
    etag: str = ""  # the validators a conditional request sends back (If-None-Match, If-Modified-Since)
    last_modified: str = ""


def public_url(url: str) -> str:
    """The link without the user name and password it may carry: what may be stored and shown."""
    parts = urlsplit(url.strip())
    if "@" not in parts.netloc:
        return url.strip()
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host))


def check_url(url: str) -> str:
    """The URL when it is an http(s) link to a host, else SourceError."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        raise SourceError(f"{public_url(url)}: only http:// and https:// links can be added, not {parts.scheme or 'a path'}://")
    if not parts.hostname:
        raise SourceError(f"{public_url(url)}: the link has no host")
    return url.strip()


def fetch(
    url: str, max_bytes: int, timeout: float = TIMEOUT_S, allow_private: str = "", headers: Mapping[str, str] | None = None
) -> Fetched:
    """Download a link within `timeout` seconds in all; every failure is a SourceError that says
    what happened. `allow_private` is Settings.allow_private_urls. `headers` are sent as well (a
    conditional request's If-None-Match, If-Modified-Since): a 304 answer is a Fetched without data."""
    import httpx

    url = check_url(url)
    shown = public_url(url)
    from qa.guarded_net import guarded_transport

    deadline = time.monotonic() + timeout
    transport = guarded_transport(AddressPolicy.parse(allow_private), deadline)
    try:
        with httpx.Client(
            transport=transport,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=timeout,
            trust_env=False,  # a proxy from the environment would hide where the request goes
            headers={"User-Agent": USER_AGENT},
        ) as client, client.stream("GET", url, headers={k: v for k, v in (headers or {}).items() if v}) as response:
            final = public_url(str(response.url))
            check_url(final)  # a redirect may not lead to another scheme
            if response.status_code >= 400:
                raise SourceError(f"{shown}: the server answered {response.status_code} {response.reason_phrase}")
            h = response.headers
            got = Fetched(final, b"", h.get("content-type", ""), response.status_code, h.get("etag", ""), h.get("last-modified", ""))
            if response.status_code == NOT_MODIFIED:
                return got
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise SourceError(f"{shown}: {declared:,} bytes; the limit is {max_bytes:,}")
            return dataclasses.replace(got, data=_body(response, max_bytes, deadline, shown))
    except PrivateAddressError:
        raise PrivateAddressError(f"{shown}: {REFUSED}") from None
    except httpx.TooManyRedirects:
        raise SourceError(f"{shown}: more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise SourceError(f"{shown}: not fetched within {timeout:g} s (QA_FETCH_TIMEOUT_S)") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"{shown}: cannot be fetched ({type(exc).__name__}: {_without_credentials(str(exc), url)})") from None


def _body(response: Any, max_bytes: int, deadline: float, shown: str) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"{shown}: larger than the limit of {max_bytes:,} bytes")
        if time.monotonic() > deadline:
            import httpx

            raise httpx.ReadTimeout("deadline")
        chunks.append(chunk)
    return b"".join(chunks)


def _without_credentials(message: str, url: str) -> str:
    return message.replace(url, public_url(url))
