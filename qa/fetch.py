"""Links → bytes: http(s) only, with a timeout, a size limit, a clear user agent and few redirects.

The one place that reaches the network, and only when a user asks for a link (`qa add URL`):
nothing else in the product does.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from qa.errors import SourceError

USER_AGENT = "newsqa/0.1 (question answering over news articles; +https://pypi.org/project/newsqa/)"
TIMEOUT_S = 15.0
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    content_type: str


def check_url(url: str) -> str:
    """The URL when it is an http(s) link to a host, else SourceError."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        raise SourceError(f"{url}: only http:// and https:// links can be added, not {parts.scheme or 'a path'}://")
    if not parts.hostname:
        raise SourceError(f"{url}: the link has no host")
    return url.strip()


def fetch(url: str, max_bytes: int, timeout: float = TIMEOUT_S) -> Fetched:
    """Download a link; every failure is a SourceError that says what happened."""
    import httpx

    url = check_url(url)
    try:
        with httpx.Client(
            follow_redirects=True, max_redirects=MAX_REDIRECTS, timeout=timeout, headers={"User-Agent": USER_AGENT}
        ) as client, client.stream("GET", url) as response:
            final = str(response.url)
            check_url(final)  # a redirect may not lead to another scheme
            if response.status_code >= 400:
                raise SourceError(f"{url}: the server answered {response.status_code} {response.reason_phrase}")
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise SourceError(f"{url}: {declared:,} bytes; the limit is {max_bytes:,}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise SourceError(f"{url}: larger than the limit of {max_bytes:,} bytes")
                chunks.append(chunk)
            return Fetched(final, b"".join(chunks), response.headers.get("content-type", ""))
    except httpx.TooManyRedirects:
        raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise SourceError(f"{url}: no answer within {timeout:.0f} s") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"{url}: cannot be fetched ({type(exc).__name__}: {exc})") from None
