"""Web pages, PDFs and feeds → the text and metadata of news articles.

HTML goes through trafilatura (a news page's main text, without menus, ads, cookie banners or
comments, and its title, site, author and date), PDF through pypdf (its text layer, pages in order,
hyphenation at line ends repaired), feeds through feedparser (each entry an article, from the
content the feed carries, else from its linked page). Every refusal is a SourceError saying why.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from qa.config import Settings
from qa.errors import SourceError

# Below this, extracted "main text" is a home page, a login wall or a cookie notice, not an article.
MIN_ARTICLE_CHARS = 200
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json")
# A PDF's text must be read within this time (checked between pages): a news article's PDF takes a
# second or two, while a crafted one of a few kilobytes (pages whose compressed content expands to
# megabytes of text) ran for minutes.
PDF_READ_SECONDS = 30.0


@dataclass(frozen=True)
class Converted:
    """One article from one input, before it is stored."""

    title: str
    text: str  # paragraphs separated by blank lines
    source: str = ""  # publisher or site
    author: str = ""
    date: str = ""  # ISO 8601 (YYYY-MM-DD, or YYYY-MM when only that is known)
    url: str = ""
    kind: str = ""  # html, pdf, feed entry


def kind_of(name: str, data: bytes, content_type: str = "") -> str:
    """html, pdf, feed or text, from the bytes first (names and server headers lie), then the name."""
    head = data[:2048].lstrip().lower()
    ctype = content_type.split(";")[0].strip().lower()
    if data.startswith(b"%PDF-"):
        return "pdf"
    if ctype in FEED_TYPES or (head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf:rdf")) and (b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head)):
        return "feed"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head or ctype in HTML_TYPES:
        return "html"
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    return {"htm": "html", "html": "html", "xhtml": "html", "pdf": "pdf", "rss": "feed", "atom": "feed", "xml": "feed"}.get(
        suffix, "text"
    )


def iso_date(value: Any) -> str:
    """A date as ISO 8601 (YYYY-MM-DD), from a datetime, a time tuple or a string that holds one."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, tuple) and len(value) >= 3:  # feedparser's time.struct_time
        return f"{value[0]:04d}-{value[1]:02d}-{value[2]:02d}"
    text = str(value)
    match = re.search(r"(\d{4})-(\d{2})(?:-(\d{2}))?", text)
    if match:
        return "-".join(g for g in match.groups() if g)
    match = re.search(r"D:(\d{4})(\d{2})(\d{2})", text)  # PDF dates: D:20240412083000+02'00'
    if match:
        return "-".join(match.groups())
    return ""


def paragraphs(text: str) -> str:
    """Lines as paragraphs separated by blank lines, whitespace tidied, empty lines dropped."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n\n".join(line for line in lines if line)


def from_html(data: bytes | str, url: str = "", name: str = "") -> Converted:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            data, url=url or None, with_metadata=True, include_comments=False, include_tables=True, favor_precision=True
        )
    except Exception as exc:  # trafilatura raises what its parsers raise on broken input
        raise SourceError(f"{name or url}: the page cannot be read ({type(exc).__name__})") from None
    text = getattr(doc, "text", None) or ""
    if len(text.strip()) < MIN_ARTICLE_CHARS:
        raise SourceError(f"{name or url}: no article text found on the page (a home page, a list of links or a login wall?)")
    title = " ".join((doc.title or "").split())
    lines = text.splitlines()
    if lines and title and " ".join(lines[0].split()) == title:
        lines = lines[1:]  # trafilatura repeats the headline as the first line
    return Converted(
        title=title or _first_words(lines),
        text=paragraphs("\n".join(lines)),
        source=doc.sitename or doc.hostname or "",
        author=doc.author or "",
        date=iso_date(doc.date),
        url=doc.url or url,
        kind="html",
    )


def from_pdf(
    data: bytes, name: str = "", *, max_bytes: int = Settings.max_article_bytes, deadline_s: float = PDF_READ_SECONDS
) -> Converted:
    """The article in a PDF; refused (SourceError) when its text passes `max_bytes` (UTF-8) or
    reading it takes longer than `deadline_s`: the file's size says nothing of its text's."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise SourceError(f"{name}: the PDF is encrypted; save an unprotected copy first")
        pages = pdf_pages(reader, name, max_bytes, deadline_s)
        meta = reader.metadata or {}
    except SourceError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise SourceError(f"{name}: the PDF is damaged and cannot be read ({type(exc).__name__})") from None
    text = pdf_text(pages)
    if len(text) < MIN_ARTICLE_CHARS // 2:
        raise SourceError(f"{name}: the PDF has no text layer (a scan?); run it through OCR first")
    title = str(meta.get("/Title") or "").strip()
    return Converted(
        title=title or _first_words(text.split("\n\n")),
        text=text,
        author=str(meta.get("/Author") or "").strip(),
        date=iso_date(meta.get("/CreationDate")),
        kind="pdf",
    )


def pdf_pages(reader: Any, name: str, max_bytes: int, deadline_s: float) -> list[str]:
    """The text of each page, in order, stopped as soon as it passes `max_bytes` or reading passes
    the deadline (one page is read whole: the checks fall between pages)."""
    deadline = time.monotonic() + deadline_s
    texts: list[str] = []
    by_contents: dict[tuple[tuple[int, int], ...], str] = {}
    size = 0
    for n, page in enumerate(reader.pages, 1):
        if time.monotonic() >= deadline:
            raise SourceError(
                f"{name}: reading the PDF's text took longer than {deadline_s:g} s (stopped at page {n} of {len(reader.pages)})"
            )
        key = _contents_key(page)
        # A page drawn by the very content stream of an earlier page shows the same text: it is
        # counted again but not extracted again. Real articles do not repeat pages; a decompression
        # bomb does, to make one small compressed stream cost its extraction time once per page.
        text = by_contents[key] if key in by_contents else (page.extract_text() or "")
        if key:
            by_contents[key] = text
        size += len(text.encode("utf-8"))
        if size > max_bytes:
            raise SourceError(f"{name}: the PDF's text is larger than the limit of {max_bytes:,} bytes (QA_MAX_ARTICLE_BYTES)")
        texts.append(text)
    return texts


def _contents_key(page: Any) -> tuple[tuple[int, int], ...]:
    """The objects (number, generation) holding a page's content streams; empty when one of them is
    not a separate object, which cannot be shared."""
    from pypdf.generic import IndirectObject

    contents = page.raw_get("/Contents") if "/Contents" in page else None
    refs = [contents] if isinstance(contents, IndirectObject) else contents
    if not isinstance(refs, list) or not all(isinstance(r, IndirectObject) for r in refs):
        return ()
    return tuple((r.idnum, r.generation) for r in refs)


def pdf_text(pages: list[str]) -> str:
    """Pages in reading order as paragraphs: words split at line ends joined again, lines of one
    paragraph joined, paragraphs kept where a line ends a sentence or a blank line falls."""
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)  # "inves-\ntissement" → "investissement"
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [" ".join(line.split()) for line in block.splitlines() if line.strip()]
        paragraph: list[str] = []
        for line in lines:
            paragraph.append(line)
            if line.endswith((".", "!", "?", "»", ":", '"')) and len(line) < 60:
                out.append(" ".join(paragraph))
                paragraph = []
        if paragraph:
            out.append(" ".join(paragraph))
    return "\n\n".join(p for p in out if p)


def feed_entries(data: bytes, url: str = "", name: str = "") -> list[tuple[Converted | None, str]]:
    """Each entry of an RSS or Atom feed: its article when the feed carries the full text, else
    None and the link to fetch it from."""
    import feedparser

    feed = feedparser.parse(data)
    if not feed.entries:
        raise SourceError(f"{name or url}: not an RSS or Atom feed, or a feed with no entries")
    site = " ".join((feed.feed.get("title") or "").split())
    out: list[tuple[Converted | None, str]] = []
    for entry in feed.entries:
        link = entry.get("link", "")
        html = ""
        if entry.get("content"):
            html = max((c.get("value", "") for c in entry.content), key=len)
        html = html or entry.get("summary", "")
        title = " ".join((entry.get("title") or "").split())
        body = _html_fragment_text(html) if html else ""
        if len(body) >= MIN_ARTICLE_CHARS:
            when = entry.get("published_parsed") or entry.get("updated_parsed")
            out.append(
                (Converted(title or _first_words(body.split("\n\n")), body, site, entry.get("author", ""), iso_date(when), link, "feed entry"), link)
            )
        elif link:
            out.append((None, link))
    if not out:
        raise SourceError(f"{name or url}: the feed's entries carry no text and no links")
    return out


def _html_fragment_text(html: str) -> str:
    """The text of an HTML fragment (a feed entry's content), as paragraphs; no markup survives."""
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except Exception:
        return paragraphs(re.sub(r"<[^>]+>", " ", html))
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    blocks = [" ".join(el.text_content().split()) for el in root.xpath("//p|//li|//h1|//h2|//h3|//blockquote")]
    text = "\n\n".join(b for b in blocks if b) or " ".join(root.text_content().split())
    return text


def _first_words(blocks: list[str]) -> str:
    first = next((b.strip() for b in blocks if b.strip()), "")
    return first if len(first) <= 100 else first[:97].rsplit(" ", 1)[0] + "…"
