"""Answers, quotes, sources and status lines → the chat's HTML, every piece of text shown as written.

Built with markupsafe: every piece of article or user text goes through `text_html`, which escapes
it, so that it is shown exactly as written and never run. The chat renders these messages as
sanitised HTML with Markdown and LaTeX switched off (Markdown would read an article's `*`, `_`,
`#` or `$$` as formatting).

Each message carries its plain text in a `data-copy` attribute: the answer, its short answer, its
confidence and its numbered sources with their links, as Markdown-friendly text. The page's script
(ui/app.py) gives that text, not the HTML, to the clipboard, to screen readers and to the export.
Every `[n]` links to the article page (ui/pages.py) at the quoted sentence.
"""

from __future__ import annotations

from urllib.parse import quote

from markupsafe import Markup, escape

import qa
from qa.calibration import confidence_words

AGREEMENT = {
    ("agree", "en"): "✓ The sources agree",
    ("agree", "fr"): "✓ Les sources concordent",
    ("differ", "en"): "≠ The sources differ",
    ("differ", "fr"): "≠ Les sources divergent",
}
WORDS = {
    "en": {"confidence": "Confidence", "sources": "Sources", "short": "Short answer", "within": "Asked within", "colon": "",
           "number": "{:.2f}: about how often answers given with this confidence are right"},
    "fr": {"confidence": "Confiance", "sources": "Sources", "short": "Réponse courte", "within": "Question posée dans", "colon": "\u202f",
           "number": "{:.2f} : à peu près la part des réponses justes données avec cette confiance"},
}


def text_html(s: str) -> Markup:
    """User or article text as HTML that shows exactly these characters: escaped, line breaks kept."""
    return Markup("<br>").join(escape(line) for line in s.split("\n"))


def words(lang: str) -> dict[str, str]:
    return WORDS["fr" if lang == "fr" else "en"]


def article_link(doc_id: str, start: int | None = None, end: int | None = None) -> str:
    """The article page's address, relative to the chat's page, at the quoted characters."""
    where = f"?start={start}&end={end}#quote" if start is not None and end is not None else ""
    return f"articles/{quote(doc_id, safe='')}{where}"


def user_message(question: str) -> str:
    """A question as the chat shows it: its text, and the same text to copy."""
    return str(Markup('<p class="qa-q" data-copy="{}">{}</p>').format(question, text_html(question)))


def plain_message(text: str) -> str:
    """A message of the chat's own (an apology, an error) as text."""
    return str(Markup('<div class="qa-answer" data-copy="{}"><p>{}</p></div>').format(text, text_html(text)))


def render_answer(a: qa.Answer, within: str = "") -> str:
    """The answer as the chat shows it, whole."""
    return answer_steps(a, within)[-1]


def answer_steps(a: qa.Answer, within: str = "") -> list[str]:
    """The answer revealed block by block (each step well-formed HTML): the quotes with the short
    answer in bold and their [n] links, or each source's version and whether they agree; the
    confidence in words (the number on demand); then the folded sources. `within` says which
    articles the question was asked within, when not all."""
    w = words(a.lang)
    blocks = [Markup('<p class="qa-within"><small>{}{}: {}</small></p>').format(w["within"], w["colon"], within)] if within else []
    if a.abstained:
        blocks.append(Markup("<p>{}</p>").format(text_html(a.text)))  # no confidence on a refusal
    else:
        blocks.append(render_versions(a) if a.agreement and a.versions else render_quotes(a))
        blocks.append(render_confidence(a))
        blocks.append(Markup('<p class="qa-sources-title"><strong>{}</strong></p>').format(w["sources"]))
        blocks.extend(render_source(n, hit, a.lang) for n, hit in enumerate(a.citations, 1))
    copy = answer_text(a, within)
    return [str(Markup('<div class="qa-answer" data-copy="{}">{}</div>').format(copy, Markup("").join(blocks[:i]))) for i in range(1, len(blocks) + 1)]


def render_quotes(a: qa.Answer) -> Markup:
    lines = [Markup("{} {}").format(render_quote(q, a.short_answer), cite(q.citation, a.citations[q.citation - 1], q.start, q.end)) for q in a.quotes]
    return Markup("<p>{}</p>").format(Markup("<br>").join(lines) if lines else text_html(a.text))


def render_versions(a: qa.Answer) -> Markup:
    """Each article's version, its short answer in bold, and at a glance whether they agree."""
    items = []
    for v in a.versions:
        hit = a.citations[v.citation - 1]
        byline = ", ".join(x for x in (hit.source, hit.date) if x)
        items.append(
            Markup('<li>{} {} <small>— {}</small></li>').format(render_quote(v.quote, v.short_answer), cite(v.citation, hit, v.quote.start, v.quote.end), byline)
        )
    label = AGREEMENT[(a.agreement or "differ", "fr" if a.lang == "fr" else "en")]
    return Markup('<div class="qa-versions qa-{}"><p><strong>{}</strong></p><ul>{}</ul></div>').format(a.agreement, label, Markup("").join(items))


def render_quote(q: qa.Quote, short: qa.ShortAnswer | None) -> Markup:
    """The quoted sentence, with the short answer in bold when it lies inside it."""
    if short is None or short.citation != q.citation or not (q.start <= short.start < short.end <= q.end):
        return text_html(q.text)
    i, j = short.start - q.start, short.end - q.start
    return Markup("{}<strong>{}</strong>{}").format(text_html(q.text[:i]), text_html(q.text[i:j]), text_html(q.text[j:]))


def cite(n: int, hit: qa.Hit, start: int, end: int) -> Markup:
    """A [n] that opens the article, in a new tab, at the quoted characters."""
    label = f"Source {n}: {hit.title}" + (f", {hit.source}" if hit.source else "")
    return Markup('<a class="qa-cite" href="{}" target="_blank" rel="noopener" aria-label="{}" title="{}">[{}]</a>').format(
        article_link(hit.doc_id, start, end), label, label, n
    )


def render_confidence(a: qa.Answer) -> Markup:
    w = words(a.lang)
    said = confidence_words(a.confidence, a.lang)
    number = w["number"].format(a.confidence)
    return Markup('<p class="qa-confidence"><small>{}{}: <span title="{}">{}</span></small></p>').format(w["confidence"], w["colon"], number, said)


def render_source(n: int, hit: qa.Hit, lang: str = "en") -> Markup:
    """One folded source: its title (a link to the article), outlet and date; unfolded, the passage
    with its best sentence marked."""
    i = hit.best_sentence
    if i >= 0:
        s, e = hit.sentences[i]
        quoted = Markup("{}<mark>{}</mark>{}").format(text_html(hit.text[:s]), text_html(hit.text[s:e]), text_html(hit.text[e:]))
        at = (hit.start + s, hit.start + e)
    else:
        quoted, at = text_html(hit.text), (hit.start, hit.end)
    byline = ", ".join(x for x in (hit.source, hit.date) if x)
    link = Markup('<a href="{}" target="_blank" rel="noopener">{}</a>').format(article_link(hit.doc_id, *at), hit.title)
    return Markup('<details class="qa-source"><summary>[{}] {}{}</summary><blockquote>{}</blockquote></details>').format(
        n, link, Markup(" — {}").format(byline) if byline else "", quoted
    )


def answer_text(a: qa.Answer, within: str = "") -> str:
    """The answer as plain text (Markdown-friendly) for the clipboard, screen readers and the
    export: the short answer, the quotes with their [n], whether sources agree, the confidence in
    words and number, and the numbered sources with a link each (the original when known, else
    the article page; the page's script makes that one absolute)."""
    w = words(a.lang)
    lines = [f"{w['within']}{w['colon']}: {within}", ""] if within else []
    if a.abstained:
        return "\n".join([*lines, a.text])
    if a.short_answer:
        lines.append(f"{w['short']}{w['colon']}: {a.short_answer.text}")
    lines += [f"{' '.join(q.text.split())} [{q.citation}]" for q in a.quotes] or [a.text]
    if a.agreement:
        lines += ["", a.agreement_text()]
    lines += ["", f"{w['confidence']}{w['colon']}: {confidence_words(a.confidence, a.lang)} ({a.confidence:.2f})", "", f"{w['sources']}{w['colon']}:"]
    for n, hit in enumerate(a.citations, 1):
        byline = ", ".join(x for x in (hit.source, hit.date) if x)
        link = hit.url if hit.url.startswith(("http://", "https://")) else article_link(hit.doc_id)
        lines.append(f"[{n}] {hit.title}" + (f" — {byline}" if byline else "") + f" {link}")
    return "\n".join(lines)


def render_status(lines: list[str]) -> str:
    return str(Markup("<br>").join(text_html(line) for line in lines))
