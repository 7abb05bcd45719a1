"""Synthetic questions for the reader to learn on before PIAF's: `--cloze` in bench/train_reader.py.

PIAF's train split has under 2,000 questions, and the reader learns mostly to find the span that
fills the gap the question leaves in a sentence. Cloze questions teach that at no labelling cost
(Lewis et al. 2019, "Unsupervised Question Answering by Cloze Translation"): a name, a date, a
year or a quantity is cut out of a sentence of a train article, a question word stands in for it
at the front, and the words around the gap follow, a few of them dropped so that the question
does not copy the sentence word for word: "Le Président Jiang Zemin lui a reproché certaines
décisions" → "Qui lui a reproché certaines décisions ?". The passage is the product's own chunk
that holds the sentence; now and then another chunk of the same article, which does not hold the
answer, is paired with the question as a passage with no answer.

Only the train articles are read, so nothing here sees dev.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

_MONTHS = "janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre"
# Most specific first: a date holds a year, a year is a number.
_KINDS = (
    ("date", re.compile(rf"\b(?:\d{{1,2}}(?:er)?\s+)?(?:{_MONTHS})\s+\d{{4}}\b", re.I)),
    ("year", re.compile(r"\b1\d{3}\b|\b20\d{2}\b")),
    (
        "number",
        re.compile(
            r"\b\d[\d\u202f\u00a0 ]*(?:[.,]\d+)?(?:\s?(?:%|pour cent|milliards?|millions?|kilomètres|km|mètres|ans|habitants|euros|dollars|francs|personnes|hommes|soldats)\b)?"
        ),
    ),
    ("name", re.compile(r"\b[A-ZÉÈÀÂÎÔ][\w’'-]+(?:\s+(?:(?:de|du|des|la|le|von|van)\s+|d['’])?[A-ZÉÈÀÂÎÔ][\w’'-]+)*")),
)
_PLACE_BEFORE = {"à", "au", "aux", "en", "dans"}
WINDOW_WORDS = 7  # words kept on each side of the gap
DROP = 0.15  # share of the kept words dropped
PER_SENTENCE = 3
NEGATIVE = 0.5  # probability of a passage without the answer for a question


def gaps(sentence: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of the names, dates, years and quantities in `sentence` that can be cut
    out: not overlapping one another, and not the sentence's first word (capitalised anyway)."""
    taken: list[tuple[str, int, int]] = []
    for kind, pattern in _KINDS:
        for m in pattern.finditer(sentence):
            a, z = m.start(), len(m.group(0).rstrip()) + m.start()
            if kind == "name" and (a == 0 or len(m.group(0)) < 3):
                continue
            if kind == "number" and not any(c.isdigit() for c in sentence[a:z]):
                continue
            if all(z <= s or a >= e for _, s, e in taken):
                taken.append((kind, a, z))
    return taken


def cloze_question(sentence: str, kind: str, a: int, z: int, rng: random.Random) -> str:
    """A question word for the gap [a, z), then the words around it, a few dropped."""
    left = sentence[:a].split()[-WINDOW_WORDS:]
    right = sentence[z:].split()[:WINDOW_WORDS]
    word = {"date": "quand", "year": "en quelle année", "number": "combien", "name": "qui"}[kind]
    if left and left[-1].lower() in _PLACE_BEFORE and kind in ("name", "year", "date"):
        word = "où" if kind == "name" else word
        left = left[:-1]
    kept = [w for w in left + right if rng.random() >= DROP]
    body = " ".join(kept).strip(" ,;:.!?«»\"")
    return f"{word[0].upper()}{word[1:]} {body} ?"


def cloze_items(paths: list[Path], rng: random.Random) -> list[dict]:
    """Questions with their article (file stem), answer offsets and answer text, from every sentence
    of the articles in `paths`."""
    from qa.corpus import read_article
    from qa.sentences import sentence_spans

    items = []
    for path in paths:
        doc = path.stem
        article = read_article(path)
        if isinstance(article, str):
            continue
        text = article.text
        for s, e in sentence_spans(text[article.body_start :]):
            s, e = s + article.body_start, e + article.body_start
            sentence = text[s:e]
            if len(sentence.split()) < 6 or sentence.strip() == article.title.strip():
                continue
            found = gaps(sentence)
            for kind, a, z in rng.sample(found, min(PER_SENTENCE, len(found))):
                items.append(
                    {
                        "id": f"cloze-{doc}-{s + a}",
                        "doc": doc,
                        "question": cloze_question(sentence, kind, a, z, rng),
                        "a0": s + a,
                        "a1": s + z,
                        "answer": text[s + a : s + z],
                    }
                )
    return items
