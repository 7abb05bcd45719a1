"""The article page (GET /articles/{id}): what a citation's [n] opens. The article's title, outlet,
author, date and original link, then its text, shown as text (escaped, never as HTML), with the
quoted characters (?start=&end=, offsets into the article as the citations give them) in a
<mark id="quote"> that the address's #quote scrolls to.

A page of its own, with no script at all (its Content-Security-Policy allows none), served beside
the chat and the API behind the same guards (ui/server.py). Built on ui/library.py and
ui/render.py only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from ui.library import Library

# No script, no frame, nothing fetched from elsewhere: the page is text and its own styles.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STYLE = """
body { font: 17px/1.6 system-ui, sans-serif; margin: 0; color: #1f2937; background: #fafafa; }
main { max-width: 46rem; margin: 0 auto; padding: 1.2rem 1rem 4rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: .4rem 0 .6rem; }
.about { color: #4b5563; margin: 0 0 .4rem; }
.note { background: #fff7ed; border-left: 4px solid #f59e0b; padding: .4rem .8rem; }
article { white-space: pre-wrap; overflow-wrap: anywhere; background: #fff; padding: 1rem 1.2rem; border-radius: 8px; border: 1px solid #e5e7eb; }
mark { background: #fde68a; padding: .1em 0; scroll-margin: 30vh; }
a { color: #1d4ed8; }
"""
PAGE = Markup("""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — Ask the articles</title><style>{style}</style></head>
<body><main>
<p><a href="../">← Back to the chat</a></p>
<h1>{title}</h1>
{about}{original}{note}
<article>{text}</article>
</main></body></html>
""")


def pages_router(library: Library) -> APIRouter:
    router = APIRouter()

    @router.get("/articles/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def article_page(doc_id: str, start: int | None = None, end: int | None = None) -> HTMLResponse:
        found = library.read_article(doc_id)
        if found is None:
            return page_not_found()
        record, text, indexed = found
        return HTMLResponse(article_html(record, text, (start, end) if indexed else None, indexed), headers=HEADERS)

    return router


def page_not_found() -> HTMLResponse:
    body = PAGE.format(
        lang="en", title="Article not found", style=Markup(STYLE), about="", original="", note="",
        text="This article is not in the collection any more, or the index has not been updated since it was added.",
    )
    return HTMLResponse(str(body), status_code=404, headers=HEADERS)


def article_html(record: dict[str, Any], text: str, quote: tuple[int | None, int | None] | None, indexed: bool) -> str:
    """The page: the article's metadata, then its text with the quoted characters marked."""
    about = " · ".join(x for x in (record.get("source"), record.get("author"), record.get("date"), record.get("place")) if x)
    url = record.get("url", "")
    original = (
        Markup('<p class="about">Original: <a href="{}" rel="noopener noreferrer">{}</a></p>').format(url, urlsplit(url).netloc or url)
        if urlsplit(url).scheme in ("http", "https")
        else ""
    )
    note = "" if indexed else Markup('<p class="note">This article has changed since the index was updated: the quoted passage cannot be marked.</p>')
    return str(
        PAGE.format(
            lang="fr" if record.get("lang") == "fr" else "en",
            title=record.get("title") or record.get("id", ""),
            style=Markup(STYLE),
            about=Markup('<p class="about">{}</p>').format(about) if about else "",
            original=original,
            note=note,
            text=marked_text(text, shown_from(text, record), quote),
        )
    )


def shown_from(text: str, record: dict[str, Any]) -> int:
    """Where the page's text starts: after the front matter, and after a first line that only
    repeats the title (the page shows the title above)."""
    start = int(record.get("body_start") or 0)
    while start < len(text) and text[start] in "\r\n":
        start += 1
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    if text[start:line_end].strip().lstrip("#").strip() == (record.get("title") or "").strip():
        start = line_end
    while start < len(text) and text[start] in "\r\n":
        start += 1
    return start


def marked_text(text: str, start: int, quote: tuple[int | None, int | None] | None) -> Markup:
    """text[start:] escaped, the quoted characters (when they lie within it) in <mark id="quote">."""
    s, e = quote if quote else (None, None)
    if s is None or e is None or not (0 <= s < e <= len(text)):
        return escape(text[start:])
    start = min(start, s)  # a quote in the title line or the byline is shown too
    return Markup('{}<mark id="quote">{}</mark>{}').format(text[start:s], text[s:e], text[e:])
