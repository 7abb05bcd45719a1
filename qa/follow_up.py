"""A question and the user's earlier ones → what is searched and what is read.

A question that stands on its own is searched and read exactly as if it were asked alone: earlier
turns can only help a real follow-up, never spoil a question on another subject. A real follow-up:

- an **ellipsis**: it opens with "Et", "And", "What about"… or is one or two words ("Pourquoi ?",
  "In 2025?"). It is read as the previous question with the new subject in place of the old one
  ("Combien Microsoft va-t-il investir au Japon ?" then "Et AWS ?" reads "Combien AWS va-t-il
  investir au Japon ?"); where no subject can be swapped, it is taken as a pronoun is;
- a **pronoun with nothing before it to refer to** ("What did he say about China?", "Quand
  est-elle née ?"): searched with its vector blended with the previous question's (the follow-up
  says what is asked now, the previous question whom it is about) and read as typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.retrieval import Retriever, clean_question

FOLLOW_UP_WEIGHT = 0.6
# At most this many words, an ellipsis even without an opener ("Pourquoi ?", "In 2025?").
ELLIPSIS_WORDS = 2

_OPENERS = re.compile(r"^\W*(?:et|and|also|aussi|puis|then|what about|how about|and what|et pour|et si|et en|et du|et de la)\b", re.I)
# Personal pronouns that need something to refer to. Possessives and "en"/"y" are left out: they
# are in as many questions that stand alone ("Quel est son nom ?" about an article's subject).
_PRONOUNS = frozenset(["he", "she", "him", "they", "them", "il", "elle", "ils", "elles", "lui", "eux", "celui", "celle", "ceux", "celles"])
_DETERMINERS = frozenset(["le", "la", "les", "l", "un", "une", "des", "du", "au", "aux", "ce", "cet", "cette", "ces", "the", "an", "this", "these", "those"])
# Words that open a question, and prepositions: no subject among them ("Quand est-il né ?").
_QUESTION_WORDS = frozenset(
    ["qu", "que", "quoi", "qui", "quand", "comment", "combien", "pourquoi", "où", "ou", "quel", "quelle", "quels", "quelles",
     "lequel", "laquelle", "est", "ce", "pour", "de", "d", "à", "a", "en", "dans", "sur", "avec", "par", "depuis", "jusqu"]
)
# "il y a", "y a-t-il", "il faut", "il s'agit", "il est question": no one is referred to.
_IMPERSONAL = re.compile(
    r"\bil\s+(?:y\s+a(?:vait|ura)?|faut|fallait|faudra|s['’]agi(?:t|ssait)|est\s+question|reste|restait|restera)\b"
    r"|\b(?:y\s+a(?:vait|ura)?|faut|fallait|faudra|s['’]agi(?:t|ssait)|reste|restait|restera)(?:-t|\s+t)?[-\s]il\b",
    re.I,
)
_TOKEN = re.compile(r"[^\W_](?:[\w'’.-]*\w)?", re.UNICODE)
_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
# Words before a place: the place in a follow-up ("Et en Corée ?") takes the previous question's place.
_PLACE_WORDS = frozenset(["au", "aux", "en", "à", "a", "in", "at", "to", "dans"])


@dataclass(frozen=True)
class Turn:
    """A question as its conversation makes it: what to read, and how to search."""

    read: str  # the question the reader reads (the question itself unless it is an ellipsis)
    kind: str = ""  # "" (stands alone), "ellipsis" or "anaphor"
    previous: str = ""  # the previous question, for a follow-up


def in_context(question: str, history: Sequence[str], max_chars: int) -> Turn:
    """The question as it is meant after `history` (the user's earlier questions, oldest first)."""
    previous = next((clean_question(h, max_chars) for h in reversed(history) if h and h.strip()), "")
    kind = follow_up_kind(question) if previous else ""
    if kind == "ellipsis":
        swapped = with_new_subject(previous, question)
        # Nothing to swap ("And which universities?"): searched in the previous question's light,
        # read as typed, as a pronoun is.
        return Turn(swapped, kind, previous) if swapped else Turn(question, "anaphor", previous)
    return Turn(question, kind, previous)


def query_vector(turn: Turn, retriever: Retriever) -> np.ndarray:
    """The vector to search with: the question read, blended with the previous one for a pronoun."""
    embedder = retriever.embedder
    if turn.kind != "anaphor":
        return embedder.embed_query(turn.read)
    now, before = embedder.embed_queries([turn.read, turn.previous])
    blended = FOLLOW_UP_WEIGHT * now + (1 - FOLLOW_UP_WEIGHT) * before
    return (blended / np.linalg.norm(blended)).astype(np.float32)


def follow_up_kind(question: str) -> str:
    """"ellipsis", "anaphor" or "" (the question stands alone)."""
    if _OPENERS.match(question) or len(_TOKEN.findall(question)) <= ELLIPSIS_WORDS:
        return "ellipsis"
    words = _WORD.findall(question)  # "Qu'a-t-il" is four words here: "il" is one of them
    names = name_positions(words)
    # What a pronoun can refer to in the question itself: a name, or a noun after a determiner
    # ("les bancs étaient-ils", "when the animals eat, where do they sleep").
    referents = names + [i + 1 for i, w in enumerate(words) if w.lower() in _DETERMINERS]
    for i, word in enumerate(words):
        if word.lower() in _PRONOUNS and not any(n < i for n in referents):
            if (word.lower() == "il" and _IMPERSONAL.search(question)) or inverted_after_subject(words, i):
                continue
            return "anaphor"
    return ""


def inverted_after_subject(words: list[str], i: int) -> bool:
    """The pronoun at i repeats a subject written before its verb ("Pour quelle bataille Médine
    espère-t-il aider ?"): a word before the verb that is not a question word or a preposition."""
    if words[i].lower() not in ("il", "elle", "ils", "elles"):
        return False  # French inversion only: "What did he say?" has no subject before "did"
    verb = i - 2 if i >= 2 and words[i - 1].lower() == "t" else i - 1
    return verb > 0 and any(w.lower() not in _QUESTION_WORDS for w in words[:verb])


def name_positions(tokens: list[str]) -> list[int]:
    """Where the names, acronyms and numbers are: capitalised words after the first, words in
    capitals, words with a digit."""
    return [
        i
        for i, t in enumerate(tokens)
        if any(c.isdigit() for c in t) or (len(t) > 1 and t.isupper()) or (i > 0 and t[0].isupper())
    ]


def name_spans(text: str) -> list[tuple[int, int, str]]:
    """Runs of consecutive names in `text` (start, end, the word before them, lower case)."""
    matches = list(_TOKEN.finditer(text))
    tokens = [m.group(0) for m in matches]
    at = set(name_positions(tokens))
    if _OPENERS.match(text) and 0 in at:
        at.discard(0)
    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        if i not in at:
            i += 1
            continue
        j = i
        while j + 1 in at:
            j += 1
        before = tokens[i - 1].lower() if i > 0 else ""
        spans.append((matches[i].start(), matches[j].end(), before))
        i = j + 1
    return spans


def with_new_subject(previous: str, follow_up: str) -> str:
    """The previous question with the follow-up's name in place of the one it replaces: a number
    for a number, a place for a place, else the previous question's first name; "" when there is
    no name to swap."""
    new = name_spans(follow_up)
    old = name_spans(previous)
    if len(new) != 1 or not old:
        return ""
    start, end, before = new[0]
    name = follow_up[start:end]
    is_number = any(c.isdigit() for c in name)
    same_kind = [s for s in old if any(c.isdigit() for c in previous[s[0] : s[1]]) == is_number]
    if not same_kind:
        return ""
    at_place = before in _PLACE_WORDS
    target = next((s for s in same_kind if (s[2] in _PLACE_WORDS) == at_place), same_kind[0])
    if at_place and target[2] in _PLACE_WORDS:
        # "au Japon" → "en Corée": the follow-up's own preposition goes with its place.
        word_start = previous.lower().rfind(target[2], 0, target[0])
        return previous[:word_start] + follow_up[follow_up.rfind(before, 0, start) : end] + previous[target[1] :]
    return previous[: target[0]] + name + previous[target[1] :]
