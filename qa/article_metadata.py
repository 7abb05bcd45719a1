"""Questions about the article itself ("Quel site a publié l'article … ?", "When was the story
published?") → the best article's publisher, date or place, cited where the article states it.

qa/answer.py asks here first: such a question is answered from the metadata, not by the reader.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.corpus import dateline_part
from qa.retrieval import Hit, Retriever


@dataclass(frozen=True)
class ArticleFact:
    """An answer from metadata: its words, and where the article states the value."""

    text: str  # the answer in words, with its [1]
    hit: Hit  # the passage that states it
    start: int  # where the quoted words start in the article
    quoted: str  # the words quoted: the value as written, or the dateline it was read from
    short_start: int  # the value inside `quoted`
    short_end: int


# Questions about the article itself (who published it, when, from where) name the article and
# ask for one of its metadata; a question that only mentions publishing ("Quel journal a publié
# la découverte ?") is about the news, not the article, and goes to the reader.
_ARTICLE_WORDS = re.compile(r"\b(articles?|dépêches?|the (story|report|piece)|this (story|report|piece))\b", re.I)
_ASKS_DATE = re.compile(r"\b(quand|quelle date|à quelle date|date de (publication|parution)|when|what date|which date|dated)\b", re.I)
_ASKS_PLACE = re.compile(r"\b(d['’]où|de quel(le)? (ville|lieu)|from where|which city|what city|where)\b", re.I)
_ASKS_SOURCE = re.compile(
    r"\b(qui|quel(le)?s? (agence|site|média|journal|source|éditeur|publication)|source|who|which|what)\b.*"
    r"\b(publi\w*|paru\w*|écrit|rédigé|diffusé|source|agence|site|wrote|written|published|publisher|agency|outlet|source|released|appeared)\b",
    re.I,
)


# A news agency or a journalist is asked about the report itself, article named or not: "Quelle
# agence de presse a rapporté l'annonce ?", "Which agency reported the plan?", "Who wrote the story?".
_ASKS_AGENCY = re.compile(r"\b(quelle agence|which (news )?agency|what (news )?agency|which wire|quelle dépêche)\b", re.I)
_ASKS_AUTHOR = re.compile(
    r"\b(qui a (écrit|rédigé|signé)|quel(le)? (journaliste|auteur|autrice|reporter)|who (wrote|authored|reported|filed)|which (journalist|reporter)|"
    r"(the )?author of|l['’]auteur de)\b",
    re.I,
)


def metadata_field(question: str) -> str:
    """"source", "author", "date" or "place" when the question asks that of the article itself, else ""."""
    if _ASKS_AGENCY.search(question):
        return "source"
    if not _ARTICLE_WORDS.search(question):
        return ""
    if _ASKS_AUTHOR.search(question):
        return "author"
    publishing = re.search(r"publi|écrit|rédig|diffus|paru|wrote|written|publish|filed|released|posted|dated", question, re.I)
    if _ASKS_DATE.search(question) and publishing:
        return "date"
    if _ASKS_PLACE.search(question) and re.search(r"écrit|rédig|daté|filed|written|datelined|dated", question, re.I):
        return "place"
    if _ASKS_SOURCE.search(question):
        return "source"
    return ""


def metadata_answer(field_name: str, hits: Sequence[Hit], retriever: Retriever, lang: str) -> ArticleFact | None:
    """The best article's `field_name` ("source", "author", "date" or "place") as an answer, cited where the
    article states it, or None when it doesn't."""
    top = hits[0]
    value = getattr(top, field_name)
    if not value:
        return None
    # The value as the article writes it, else the dateline it was read from ("2 April 2024" → 2024-04-02).
    cited = value
    located = retriever.locate(top.doc_id, value)
    if located is None and top.dateline:
        cited, located = top.dateline, retriever.locate(top.doc_id, top.dateline)
    if located is None:
        return None
    hit, at = located
    words = {
        ("source", "fr"): f"L'article « {top.title} » a été publié par {value}.",
        ("source", "en"): f"The article “{top.title}” was published by {value}.",
        ("date", "fr"): f"L'article « {top.title} » est daté du {value}.",
        ("date", "en"): f"The article “{top.title}” is dated {value}.",
        ("place", "fr"): f"L'article « {top.title} » est daté de {value}.",
        ("place", "en"): f"The article “{top.title}” was filed from {value}.",
        ("author", "fr"): f"L'article « {top.title} » est signé {value}.",
        ("author", "en"): f"The article “{top.title}” was written by {value}.",
    }
    s, e = dateline_part(cited, field_name) if cited != value else (0, len(cited))
    return ArticleFact(f"{words[(field_name, lang)]} [1]", hit, hit.start + at, cited, s, e)
