"""Sentence boundaries inside a passage, as offsets (pysbd: rule-based, handles "M.", "2,9", quotes)."""

from __future__ import annotations

import re
from functools import lru_cache

from qa.boilerplate import AGENCY_LINE
from qa.corpus import DATE_HEADER, dateline_at


@lru_cache(maxsize=1)
def _segmenter():  # type: ignore[no-untyped-def]
    import pysbd

    # The French rules also split English correctly on our texts; one segmenter keeps offsets simple.
    return pysbd.Segmenter(language="fr", clean=False, char_span=True)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, trimmed of surrounding white space."""
    spans: list[tuple[int, int]] = []
    for piece in _segmenter().segment(text):
        start, end = piece.start, piece.end
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.extend(_split_lines(text, start, end))
    spans = [_without_dateline(text, sp) for sp in _joined_fragments(text, spans)]
    # A byline ("Agence France-Presse") is metadata too.
    return [(s, e) for s, e in spans if e > s and not AGENCY_LINE.fullmatch(text[s:e])]


def _without_dateline(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """The span without the dateline that opens it ("date 2024-04 (Washington)", "Tokyo, avril 2024 — "):
    metadata, never part of a quoted sentence."""
    start, end = span
    match = DATE_HEADER.match(text, start, end)
    if not match and (start == 0 or text[start - 1] == "\n"):  # a news dateline opens a paragraph
        match = dateline_at(text, start, end)
    if not match:
        return span
    start = match.end()
    while start < end and text[start].isspace():
        start += 1
    return start, end


# pysbd ends a sentence after "Corp.", "Inc." or "U.S."; what follows on the same line in lower case
# or after a comma ("SoftBank Corp., la branche télécoms…", "Apple Inc. said…") continues it.
# It also cuts "en 1100 av. J.-C. les Phéniciens…" into "…av.", "J.", "-C. les Phéniciens…": a
# hyphen opens no sentence, and "av." / "apr." (avant / après) end none.
_CONTINUES = re.compile(r"[a-zà-öø-ÿ,;:)\]»”-]")
_ERA_ABBREVIATION = re.compile(r"(?<!\w)(?:av|apr)\.$")


def _joined_fragments(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in spans:
        same_line = bool(out) and "\n" not in text[out[-1][1] : s]
        if same_line and (_CONTINUES.match(text[s]) or _ERA_ABBREVIATION.search(text, out[-1][0], out[-1][1])):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _split_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A title or byline line glued to the next sentence is a sentence of its own."""
    out = []
    for line_start, line in _lines_with_offsets(text[start:end]):
        s = start + line_start
        e = s + len(line.rstrip())
        s += len(line) - len(line.lstrip())
        if e > s:
            out.append((s, e))
    return out


def _lines_with_offsets(chunk: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in chunk.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out
