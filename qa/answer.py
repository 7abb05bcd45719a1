"""Passages found → an answer made of the articles' own sentences, each with its [n], or an abstention.

No language model: every word of an answer is quoted from an article, so it is grounded by
construction and costs nothing beyond the search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from qa.retrieval import Hit, Retriever, clean_question

# A sentence from another article joins the answer when it scores this close to the best one:
# both articles state the fact (cite both) or state it differently (show both).
SECOND_SOURCE_MARGIN = 0.02
MAX_SENTENCES = 3
SENTENCE_POOL = 3  # sentences are taken from the first passages only
MIN_WORDS = 6
FOLLOW_UP_SHORT = 4  # words
FOLLOW_UP_WEIGHT = 0.6

NOT_IN_ARTICLES = {
    "fr": "Les articles ne le disent pas : aucun passage ne répond à cette question.",
    "en": "The articles don't say: no passage answers this question.",
}


@dataclass(frozen=True)
class Quote:
    """One sentence of the answer: where it comes from, and which citation number it carries."""

    citation: int  # 1-based, into Answer.citations
    start: int  # offsets into the article
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: list[Hit]
    abstained: bool
    # The question's language, for the abstention message ("" when the answer quotes the articles).
    lang: str = ""
    quotes: list[Quote] = field(default_factory=list)
    # What the search returned, cited or not (the chat shows them when it abstains, folded).
    passages: list[Hit] = field(default_factory=list)

    def sources_text(self) -> str:
        return "\n".join(source_line(n, hit) for n, hit in enumerate(self.citations, 1))

    def full_text(self) -> str:
        """The answer with its numbered sources, as the command line and the chat API return it."""
        if not self.citations:
            return self.text
        return f"{self.text}\n\nSources:\n{self.sources_text()}"

    def to_dict(self) -> dict[str, object]:
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "lang": self.lang,
            "citations": [citation_dict(n, h) for n, h in enumerate(self.citations, 1)],
            "quotes": [q.__dict__ for q in self.quotes],
        }


def source_line(n: int, hit: Hit) -> str:
    meta = ", ".join(x for x in (hit.source, hit.date, hit.place) if x)
    quoted = " ".join(hit.text.split())
    return (
        f"[{n}] {hit.title}" + (f" — {meta}" if meta else "") + f" ({hit.doc_id}, chars {hit.start}–{hit.end})\n    « {quoted} »"
    )


def citation_dict(n: int, hit: Hit) -> dict[str, object]:
    return {
        "n": n,
        "doc_id": hit.doc_id,
        "title": hit.title,
        "source": hit.source,
        "date": hit.date,
        "place": hit.place,
        "start": hit.start,
        "end": hit.end,
        "text": hit.text,
        "score": round(hit.score, 4),
        "sentence": list(hit.sentences[hit.best_sentence]) if hit.best_sentence >= 0 else None,
    }


def answer(question: str, retriever: Retriever, history: Sequence[str] = ()) -> Answer:
    """Answer `question` from the indexed articles; `history` holds the user's earlier questions.

    Raises QuestionError (a ValueError) when the question is empty or blank.
    """
    settings = retriever.settings
    text = clean_question(question, settings.max_query_chars)
    hits = retriever.search_vector(query_vector(text, history, retriever), k=settings.top_k)
    if not hits or hits[0].score < settings.min_score:
        lang = language_of(text, history)
        return Answer(question=text, text=NOT_IN_ARTICLES[lang], citations=[], abstained=True, lang=lang, passages=hits)
    picked = pick_sentences(hits[:SENTENCE_POOL])
    citations: list[Hit] = []
    quotes: list[Quote] = []
    for hit, s_idx, score in picked:
        if hit not in citations:
            citations.append(hit)
        s, e = hit.sentences[s_idx]
        quotes.append(Quote(citations.index(hit) + 1, hit.start + s, hit.start + e, hit.text[s:e], score))
    body = "\n".join(f"{' '.join(q.text.split())} [{q.citation}]" for q in quotes)
    return Answer(question=text, text=body, citations=citations, abstained=False, quotes=quotes, passages=hits)


def pick_sentences(hits: Sequence[Hit]) -> list[tuple[Hit, int, float]]:
    """The best sentence overall, plus the best one of each other article that scores nearly as well."""
    every = [(hit, i, (s + hit.score) / 2) for hit in hits for i, s in enumerate(hit.sentence_scores)]
    # Headings and bylines ("Partenariats de recherche", "Agence France-Presse") say nothing.
    scored = [t for t in every if len(t[0].text[slice(*t[0].sentences[t[1]])].split()) >= MIN_WORDS] or every
    if not scored:
        return []
    scored.sort(key=lambda t: -t[2])
    best = scored[0]
    picked = [best]
    docs = {best[0].doc_id}
    for cand in scored[1:]:
        if len(picked) == MAX_SENTENCES or cand[2] < best[2] - SECOND_SOURCE_MARGIN:
            break
        if cand[0].doc_id not in docs:
            picked.append(cand)
            docs.add(cand[0].doc_id)
    return picked


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


def language_of(question: str, history: Sequence[str] = ()) -> str:
    """The question's language, fr or en. Very short follow-ups take the conversation's language."""
    if len(question.split()) <= 3 and history:
        question = f"{history[-1]} {question}"
    lang, _ = _identifier().classify(question)
    return "fr" if lang == "fr" else "en"


@lru_cache(maxsize=1)
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(["fr", "en"])
    return ident
