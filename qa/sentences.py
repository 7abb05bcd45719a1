"""Sentence boundaries inside a passage, as offsets (pysbd: rule-based, handles "M.", "2,9", quotes)."""

from __future__ import annotations

from functools import lru_cache


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
    return spans


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
