"""A question and the user's earlier ones → the vector it is searched with.

A short or anaphoric follow-up ("Et AWS ?", "What did he say about China?") leans on the
previous question; a question that names its own subject stands alone and is searched as typed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.retrieval import Retriever, clean_question

FOLLOW_UP_SHORT = 4  # words
FOLLOW_UP_WEIGHT = 0.6


def query_vector(question: str, history: Sequence[str], retriever: Retriever) -> np.ndarray:
    """The vector to search with. A short follow-up ("Et AWS ?", "What did he say about China?")
    is blended with the previous question: the follow-up says what is asked now, the previous
    question the topic it is asked about."""
    embedder = retriever.embedder
    previous = [h for h in history if h and h.strip()]
    if not previous or not looks_like_follow_up(question):
        return embedder.embed_query(question)
    last = clean_question(previous[-1], retriever.settings.max_query_chars)
    now, before = embedder.embed_queries([question, last])
    blended = FOLLOW_UP_WEIGHT * now + (1 - FOLLOW_UP_WEIGHT) * before
    return (blended / np.linalg.norm(blended)).astype(np.float32)


_FOLLOW_UP_OPENERS = ("et ", "and ", "also", "aussi", "what about", "how about", "and what", "et pour", "et si", "puis ")
_ANAPHORS = frozenset(
    [
        "he",
        "she",
        "him",
        "his",
        "her",
        "hers",
        "they",
        "them",
        "their",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "il",
        "elle",
        "ils",
        "elles",
        "lui",
        "leur",
        "leurs",
        "son",
        "sa",
        "ses",
        "celui",
        "celle",
        "ceux",
        "celles",
        "ça",
        "cela",
        "ceci",
        "y",
        "en",
    ]
)


def looks_like_follow_up(question: str) -> bool:
    """Elliptic ("Et AWS ?") or anaphoric ("What did he say?") questions lean on the previous one;
    a question that names its own subject stands alone and is never blended."""
    words = [w.strip("?!.,;:«»\"'()’").lower() for w in question.replace("’", "' ").replace("'", "' ").split()]
    words = [w.strip("'") for w in words if w.strip("'")]
    if len(words) <= FOLLOW_UP_SHORT:
        return True
    lowered = question.lower().lstrip("«\"' ")
    return lowered.startswith(_FOLLOW_UP_OPENERS) or any(w in _ANAPHORS for w in words)
