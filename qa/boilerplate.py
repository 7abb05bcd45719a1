"""An article's text → the parts of it that are not the story: the title line, datelines, bylines,
"read more" and share lines, site footers and Markdown heading marks.

They are found once, when the article is loaded, whatever format it came in; no passage and no
quoted sentence ever holds them. What they say is kept as metadata where it says something (the
publisher in "L'article … est apparu en premier sur CryptoSlate.", the author in "Par Marie Dupont").
Every range is (start, end) in the article's text, so passages keep pointing into the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

Range = tuple[int, int]

_HEADING = re.compile(r"#{1,6}[ \t]+")
# An agency's name alone on a line: the wire that filed the story.
AGENCY_LINE = re.compile(
    r"^\s*(Agence France[- ]Presse|AFP|Reuters|Associated Press|AP|Bloomberg|"
    r"Kyodo(?: News)?|Jiji(?: Press)?|Belga|ANSA|EFE|dpa|La Presse canadienne|"
    r"The Canadian Press)\s*$",
    re.I | re.M,
)

_BYLINE = re.compile(
    r"(?:par|by|written by|propos recueillis par|texte de|reporting by)\s+(?P<author>[A-ZÀ-ÖØ-Þ][\w’'.-]*(?:[ -][A-ZÀ-ÖØ-Þ][\w’'.-]*){0,3})"
    r"(?:\s*(?:,|\(|—|–|-|avec|with|and|et)\s*[^\n]{0,60})?",
    re.I,
)
_READ_MORE = re.compile(
    r"(?:[>»•*-]\s*)?(?:à lire aussi|a lire aussi|lire aussi|lire également|voir aussi|à voir aussi|sur le même sujet|read more|read also|also read|"
    r"see also|related(?: articles?| stories| coverage)?|more on this story|recommended)\b\s*[:：-]?[^\n]*",
    re.I,
)
_SOCIAL = r"(?:facebook|twitter|x|linkedin|whatsapp|telegram|reddit|bluesky|threads|e-?mail|email|imprimer|print|copier le lien|copy link|messenger)"
_SHARE = re.compile(
    rf"(?:(?:partager|partagez|share)(?: (?:this|cet|l['’]))?(?: (?:article|story|sur|on|via))?\s*[:：]?[^\n]{{0,80}}"
    rf"|{_SOCIAL}(?:\s*[/|·•,]\s*{_SOCIAL})+)",
    re.I,
)
_FOOTER = re.compile(
    r"(?:©|\(c\)|copyright\b)[^\n]*|[^\n]*\b(?:tous droits réservés|all rights reserved)\b[^\n]*"
    r"|[^\n]*\b(?:apparaît en premier sur|est apparu en premier sur|first appeared on|was first published on|first published on|"
    r"publié (?:initialement|d['’]abord) sur)\b[^\n]*"
    r"|(?:abonnez-vous|inscrivez-vous|subscribe|sign up)\b[^\n]{0,120}\b(?:newsletter|lettre d['’]information|abonnement|subscription)\b[^\n]*"
    r"|(?:publié le|mis à jour le|published|updated|last updated)\s*:?\s*[^\n]{0,40}\d{4}[^\n]{0,30}",
    re.I,
)
_MAX_LINE_WORDS = 14


def lines(text: str, start: int = 0) -> Iterator[tuple[int, int]]:
    """(start, end) of each line of text[start:], without its line break."""
    pos = start
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        yield pos, end
        pos = end + 1


def boilerplate(text: str, body_start: int, title_end: int, dateline: re.Match[str] | None) -> tuple[Range, ...]:
    """The ranges of text[body_start:] that are not the story, in order. `title_end` is where a
    title line or heading written at the top ends (body_start when there is none); `dateline` the
    article's dateline or `date` header, if it has one."""
    found: list[Range] = []
    if title_end > body_start:
        found.append((body_start, title_end))
    if dateline is not None:
        found.append(_with_trailing_space(text, dateline.start(), dateline.end()))
    for start, end in lines(text, max(body_start, title_end)):
        line = text[start:end]
        s = start + len(line) - len(line.lstrip())
        stripped = line.strip()
        if not stripped:
            continue
        if _HEADING.match(stripped):
            heading = _HEADING.match(text, s)
            found.append((s, heading.end() if heading else s))
        elif is_boilerplate_line(stripped):
            found.append((s, s + len(stripped)))
    return merged(found)


def is_boilerplate_line(line: str) -> bool:
    """A whole line that is a byline, an agency's name, a "read more" or share line, or a site
    footer. Bylines and share lines are short: a sentence of the story that names "par" someone is not."""
    if any(p.fullmatch(line) for p in (_READ_MORE, _FOOTER, AGENCY_LINE)):
        return True
    return len(line.split()) <= _MAX_LINE_WORDS and any(p.fullmatch(line) for p in (_BYLINE, _SHARE))


def byline_author(text: str, body_start: int = 0) -> str:
    """The author a byline line names ("Par Marie Dupont" → "Marie Dupont"), or ""."""
    for start, end in lines(text, body_start):
        line = text[start:end].strip()
        if line and len(line.split()) <= _MAX_LINE_WORDS:
            match = _BYLINE.fullmatch(line)
            if match:
                return match.group("author")
    return ""


def merged(ranges: list[Range]) -> tuple[Range, ...]:
    out: list[Range] = []
    for s, e in sorted(r for r in ranges if r[1] > r[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return tuple(out)


def story_parts(text: str, body_start: int, ranges: tuple[Range, ...]) -> list[Range]:
    """The parts of text[body_start:] between the boilerplate ranges: the story, as slices."""
    parts, pos = [], body_start
    for s, e in ranges:
        if s > pos:
            parts.append((pos, s))
        pos = max(pos, e)
    if pos < len(text):
        parts.append((pos, len(text)))
    return [(s, e) for s, e in parts if text[s:e].strip()]


def _with_trailing_space(text: str, start: int, end: int) -> Range:
    while end < len(text) and text[end] in " \t":
        end += 1
    return start, end
