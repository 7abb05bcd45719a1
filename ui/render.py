"""Answers, quotes, sources and status lines → the chat's HTML, every piece of text shown as written.

Built with markupsafe: every piece of article or user text goes through `text_html`, which escapes
it, so that it is shown exactly as written and never run. The chat renders these messages as
sanitised HTML with Markdown and LaTeX switched off (Markdown would read an article's `*`, `_`,
`#` or `$$` as formatting).
"""

from __future__ import annotations

from markupsafe import Markup, escape

import qa


def text_html(s: str) -> Markup:
    """User or article text as HTML that shows exactly these characters: escaped, line breaks kept."""
    return Markup("<br>").join(escape(line) for line in s.split("\n"))


def render_answer(a: qa.Answer) -> str:
    """The answer as the chat shows it: quotes with the short answer in bold, then folded sources."""
    confidence = Markup("<small>confidence {:.2f}</small>").format(a.confidence)
    if a.abstained:
        return str(Markup("<p>{}<br>{}</p>").format(text_html(a.text), confidence))
    if a.quotes:
        lines = [Markup("{} [{}]").format(render_quote(q, a.short_answer), q.citation) for q in a.quotes]
    else:
        lines = [text_html(a.text)]
    sources = Markup("").join(render_source(n, hit) for n, hit in enumerate(a.citations, 1))
    body = Markup("<br>").join(lines)
    return str(Markup("<p>{}<br>{}</p><p><strong>Sources</strong></p>{}").format(body, confidence, sources))


def render_quote(q: qa.Quote, short: qa.ShortAnswer | None) -> Markup:
    """The quoted sentence, with the short answer in bold when it lies inside it."""
    if short is None or short.citation != q.citation or not (q.start <= short.start < short.end <= q.end):
        return text_html(q.text)
    i, j = short.start - q.start, short.end - q.start
    return Markup("{}<strong>{}</strong>{}").format(text_html(q.text[:i]), text_html(q.text[i:j]), text_html(q.text[j:]))


def render_source(n: int, hit: qa.Hit) -> Markup:
    """One folded source: title and byline, the passage with its best sentence marked, its offsets."""
    i = hit.best_sentence
    if i >= 0:
        s, e = hit.sentences[i]
        quoted = Markup("{}<mark>{}</mark>{}").format(text_html(hit.text[:s]), text_html(hit.text[s:e]), text_html(hit.text[e:]))
    else:
        quoted = text_html(hit.text)
    about = f" — {hit.about}" if hit.about else ""
    return Markup(
        "<details><summary>[{}] {}{}</summary><blockquote>{}</blockquote><small>{}, characters {}–{}</small></details>"
    ).format(n, hit.title, about, quoted, hit.doc_id, hit.start, hit.end)


def render_status(lines: list[str]) -> str:
    return str(Markup("<br>").join(text_html(line) for line in lines))
