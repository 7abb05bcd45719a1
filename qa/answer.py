"""Passages found → an answer made of the articles' own sentences, each with its [n], or an abstention.

No language model: every word of an answer is quoted from an article, so it is grounded by
construction and costs nothing beyond the search.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from qa.agreement import agreement, value_of
from qa.article_metadata import metadata_answer, metadata_field
from qa.calibration import Calibration, confidence_words, load_calibration
from qa.follow_up import in_context, query_vector
from qa.language import language_of
from qa.question_kind import FIGURES, type_mismatch, wanted_answer
from qa.reader import Span
from qa.retrieval import Filters, Hit, Retriever, clean_question, readable
from qa.slots import Asked, count_unfilled, folded, names_missing, unfilled, what_is_asked

# Another article joins the answer when its reading is nearly as good as the best one's: both
# articles state the fact (cite both) or state it differently (show both).
SECOND_SOURCE_MARGIN = 1.0
MAX_SOURCES = 2
HEADING_WORDS = 6

_AGREEMENT_WORDS = {
    ("agree", "fr"): "Les sources concordent :",
    ("agree", "en"): "The sources agree:",
    ("differ", "fr"): "Les sources divergent :",
    ("differ", "en"): "The sources differ:",
}
# "Do the articles agree…?", "Les deux articles concordent-ils… ?": every article that answers is shown.
_ASKS_AGREEMENT = re.compile(
    r"\b(?:agree|disagree|differ|different|same|consistent|contradict|concord\w*|diverg\w*|diff[eè]r\w*|m[eê]me chose|contredis\w*|s['’]accord\w*)\b",
    re.I,
)
# At most this many articles' versions are shown.
MAX_VERSIONS = 3
# Another article's figure or date is shown beside the answer's when it is of the kind asked and
# this sure that its article answers (chosen on the news collection's train split): a news reader
# must see that outlets give different figures for one fact.
OTHER_SOURCE_CONFIDENCE = 0.3
COMPARABLE = frozenset({"count", "money", "price", "number", "time"})

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
class ShortAnswer:
    """The words that answer, inside the first quote: offsets into the article."""

    citation: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Version:
    """What one article says, where several answer: its quote, its short answer, its citation."""

    citation: int
    quote: Quote
    short_answer: ShortAnswer | None = None

    def to_dict(self) -> dict[str, object]:
        short = self.short_answer.__dict__ if self.short_answer else None
        return {"citation": self.citation, "short_answer": short, "quote": self.quote.__dict__}


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: list[Hit]
    abstained: bool
    # The question's language, fr or en.
    lang: str = ""
    quotes: list[Quote] = field(default_factory=list)
    # What the search returned, cited or not (the chat shows them when it abstains, folded).
    passages: list[Hit] = field(default_factory=list)
    # The reader's span, when it is sure enough to show it (in bold in the chat).
    short_answer: ShortAnswer | None = None
    # How likely the quoted answer is right, 0-1: of answers shown at 0.9, about nine in ten are
    # (calibrated on news and PIAF; qa/calibration.py). In words: confidence_words.
    confidence: float = 0.0
    # Where two or more articles answer: each one's version, and whether their values agree
    # ("agree", "differ"; None when one article answers or the values cannot be compared).
    versions: list[Version] = field(default_factory=list)
    agreement: str | None = None

    def agreement_text(self) -> str:
        """One line: do the sources agree, and on what ("2,9 milliards de dollars [1] · $2.9 billion [2]")."""
        if not self.agreement:
            return ""
        said = " · ".join(f"{(v.short_answer or v.quote).text} [{v.citation}]" for v in self.versions)
        return f"{_AGREEMENT_WORDS[(self.agreement, self.lang if self.lang == 'fr' else 'en')]} {said}"

    def sources_text(self) -> str:
        return "\n".join(source_line(n, hit) for n, hit in enumerate(self.citations, 1))

    def full_text(self) -> str:
        """The answer with its numbered sources, as the command line and the chat API return it."""
        if not self.citations:
            return self.text
        short = f"Short answer: {self.short_answer.text}\n" if self.short_answer else ""
        compared = f"\n\n{self.agreement_text()}" if self.agreement else ""
        sure = f"{confidence_words(self.confidence, 'en')} ({self.confidence:.2f})"
        return f"{short}{self.text}{compared}\n\nConfidence: {sure}\n\nSources:\n{self.sources_text()}"

    def to_dict(self) -> dict[str, object]:
        return {
            "question": self.question,
            "answer": self.text,
            "short_answer": self.short_answer.__dict__ if self.short_answer else None,
            "confidence": round(self.confidence, 4),
            "abstained": self.abstained,
            "lang": self.lang,
            "citations": [citation_dict(n, h) for n, h in enumerate(self.citations, 1)],
            "quotes": [q.__dict__ for q in self.quotes],
            "versions": [v.to_dict() for v in self.versions],
            "agreement": self.agreement,
        }


def source_line(n: int, hit: Hit) -> str:
    meta = hit.about
    quoted = " ".join(hit.text.split())
    return (
        f"[{n}] {hit.title}" + (f" — {meta}" if meta else "") + f" ({hit.doc_id}, chars {hit.start}–{hit.end})\n    « {quoted} »"
    )


def citation_dict(n: int, hit: Hit) -> dict[str, object]:
    return {"n": n, **hit.to_dict()}


@dataclass(frozen=True)
class Reading:
    """One passage as the reader saw it, with the scores the answer is decided on."""

    hit: Hit
    span: Span
    rank: int  # 0-based, in the search's order
    choice: float  # reader margin + weighted search score + weighted term overlap
    # Share of the question's terms, and of its names, acronyms and numbers, found in the quoted
    # sentence and the one before it.
    overlap: float = 0.0
    name_overlap: float = 0.0
    # The span is not what the question asks for (type_mismatch): no number for "what year", no
    # money for "how much will it invest", money for "how many jobs", no time for "when".
    type_mismatch: bool = False
    # The slot checks (qa/slots.py): the share of the question's names not written in the article,
    # in the passage and its title, in the quoted sentence and the one before; a count of something else.
    article_names_missing: float = 0.0
    names_missing: float = 0.0
    sentence_names_missing: float = 0.0
    count_unfilled: bool = False
    # The quoted sentence leaves what is asked empty (qa/slots.py: no unit of the measure asked, no
    # word of the role, no number counting the thing, no money, no time, not the year asked): the
    # reading does not answer, whatever the models say.
    slot_unfilled: bool = False

    @property
    def answer_text(self) -> str:
        """The reader's span, as the passage writes it."""
        return self.hit.text[self.span.start : self.span.end]

    def features(self, top: Hit, english: bool) -> dict[str, float]:
        return {
            "margin": self.span.margin,
            "span_score": self.span.score,
            "null_score": self.span.null_score,
            "passage_score": self.hit.score,
            "top_passage_score": top.score,
            "rank": float(self.rank),
            "english": float(english),
            "answer_words": float(len(self.answer_text.split())),
            "overlap": self.overlap,
            "name_overlap": self.name_overlap,
            "type_mismatch": float(self.type_mismatch),
            "article_names_missing": self.article_names_missing,
            "names_missing": self.names_missing,
            "sentence_names_missing": self.sentence_names_missing,
            "count_unfilled": float(self.count_unfilled),
        }


def answer(question: str, retriever: Retriever, history: Sequence[str] = (), filters: Filters | None = None) -> Answer:
    """Answer `question` from the indexed articles; `history` holds the user's earlier questions;
    `filters` restricts the search to chosen articles, a source or a date range.

    Raises QuestionError (a ValueError) when the question is not text, or empty or blank, and
    when `filters` name an article the index does not have or admit none.
    """
    settings = retriever.settings
    text = clean_question(question, settings.max_query_chars)
    history = [readable(h)[: settings.max_query_chars] for h in history if isinstance(h, str) and h.strip()]
    turn = in_context(text, history, settings.max_query_chars)
    compare = bool(_ASKS_AGREEMENT.search(turn.read))
    vector = query_vector(turn, retriever)
    hits = retriever.search_vector(vector, k=settings.top_k, filters=filters)
    second_outlet: Hit | None = None
    if compare or (len(hits) == settings.top_k and len({h.doc_id for h in hits}) == 1):
        # Each article's best passage when the question asks whether they agree; else, where every
        # passage found is one article's, the last gives way to another article's best, so that a
        # second outlet's version of the fact is read.
        more = retriever.search_vector(vector, k=3 * settings.top_k, filters=filters)
        others = [h for h in more if h.doc_id != hits[0].doc_id][:1]
        hits = one_per_article(more, settings.top_k) if compare else ([*hits[:-1], *others] if others else hits)
        second_outlet = others[0] if others and not compare else None
    lang = language_of(text, history)
    if not hits:
        return abstention(text, lang, hits, 0.0)
    field_name = metadata_field(turn.read)
    if field_name:
        fact = metadata_answer(field_name, hits, retriever, lang)
        if fact is not None:
            quote = Quote(1, fact.start, fact.start + len(fact.quoted), fact.quoted, 1.0)
            short = ShortAnswer(1, fact.start + fact.short_start, fact.start + fact.short_end, fact.quoted[fact.short_start : fact.short_end])
            return Answer(text, fact.text, [fact.hit], False, lang, [quote], list(hits), short, 1.0)
    calibration = load_calibration()
    # An ellipsis ("Et AWS ?") is read as the question it stands for; a pronoun follow-up was
    # searched with the previous question's topic and is read as typed: what is asked now.
    readings = read(turn.read, hits, retriever, calibration)
    if second_outlet is not None:
        # The other outlet's passage is read to be shown beside the answer, not to replace it: the
        # answer comes from the passages the search put first.
        readings = sorted(readings, key=lambda r: r.hit is second_outlet)
    best = readings[0]
    features = best.features(hits[0], lang == "en")
    # A sentence that leaves what is asked empty (qa/slots.py) is no answer (confidence 0).
    confidence = 0.0 if best.slot_unfilled else calibration.probability(features)
    # QA_MIN_CONFIDENCE declines below a confidence shown; unset, the fitted decision does.
    if settings.min_confidence >= 0:
        declined = confidence < settings.min_confidence
    else:
        declined = best.slot_unfilled or calibration.answers(features) < calibration.abstain_below
    if declined:
        return abstention(text, lang, [r.hit for r in readings], confidence)
    wanted = wanted_answer(turn.read)
    picked = sources(readings, calibration, lambda r: calibration.answers(r.features(hits[0], lang == "en")), wanted, compare)
    citations: list[Hit] = []
    quotes: list[Quote] = []
    for r in picked:
        s, e = quoted_range(r.hit, r.span)
        hit = with_best_sentence(r.hit, s, e)
        citations.append(hit)
        quotes.append(Quote(len(citations), hit.start + s, hit.start + e, hit.text[s:e], r.choice))
    shorts = [short_answer(r, retriever, calibration, wanted, n) for n, r in enumerate(picked, 1)]
    versions = [Version(q.citation, q, sh) for q, sh in zip(quotes, shorts, strict=True)] if len(picked) > 1 else []
    body = "\n".join(f"{' '.join(q.text.split())} [{q.citation}]" for q in quotes)
    return Answer(
        question=text,
        text=body,
        citations=citations,
        abstained=False,
        lang=lang,
        quotes=quotes,
        passages=[r.hit for r in readings],
        short_answer=shorts[0],
        confidence=confidence,
        versions=versions,
        agreement=agreement([value_of(stated(r, sh), r.hit.date) for r, sh in zip(picked, shorts, strict=True)]) if versions else None,
    )


def one_per_article(hits: list[Hit], k: int) -> list[Hit]:
    """The best passage of each article, best first, at most k."""
    seen: set[str] = set()
    return [h for h in hits if not (h.doc_id in seen or seen.add(h.doc_id))][:k]


def sources(readings: list[Reading], calibration: Calibration, sure: Callable[[Reading], float], wanted: str, compare: bool = False) -> list[Reading]:
    """The readings the answer quotes, one per article: the best, and another article's when it
    states the fact too, the same or otherwise: its reading is nearly as good, finds the same words
    or the same value ("2,9 milliards de dollars", "$2.9 billion"), or, for a figure or a date, is
    of the kind asked and answers on its own (`sure`: how sure it is that its article answers). A
    question that asks whether the sources agree gets every article the reader is sure enough of."""
    best, picked = readings[0], [readings[0]]
    for r in readings[1:]:
        if len(picked) == (MAX_VERSIONS if compare else MAX_SOURCES):
            break
        close = (
            compare
            or r.choice >= best.choice - SECOND_SOURCE_MARGIN
            or same_words(r.answer_text, best.answer_text)
            or agreement([value_of(r.answer_text, r.hit.date), value_of(best.answer_text, best.hit.date)]) == "agree"
            or (wanted in COMPARABLE and not r.type_mismatch and sure(r) >= OTHER_SOURCE_CONFIDENCE)
        )
        # A figure or date of the kind asked counts even with a low span margin: its value is compared.
        shown = r.span.margin >= calibration.span_min_margin or (wanted in COMPARABLE and not r.type_mismatch)
        if close and shown and not r.slot_unfilled and r.hit.doc_id not in {p.hit.doc_id for p in picked}:
            picked.append(r)
    return picked


def stated(reading: Reading, short: ShortAnswer | None) -> str:
    """What a reading states, to compare: its short answer, else the reader's span."""
    return short.text if short is not None else reading.answer_text


def short_answer(best: Reading, retriever: Retriever, calibration: Calibration, wanted: str = "", citation: int = 1) -> ShortAnswer | None:
    """The words that answer, inside the sentence the best reading quotes: the span reader's span where
    one is installed (it reads spans better; the reader still chooses the sentence and decides whether
    to answer), else the reader's, widened to the words it cuts into; none where the margin is under
    its threshold, nor where the question asks for a figure (`wanted`, as wanted_answer says) that the
    span does not hold: "17,500" for how much AWS invests is a guess, and the sentence is shown alone."""
    span, min_margin = best.span, calibration.span_min_margin
    second = span_reader_span(best, retriever)
    if second is not None:
        span, min_margin = second, calibration.span_reader_min_margin
    if span.margin < min_margin or span.end <= span.start:
        return None
    h = best.hit
    start, end = whole_words(h.text, span.start, span.end)
    if wanted in FIGURES and type_mismatch(wanted, h.text, start, end):
        return None
    return ShortAnswer(citation, h.start + start, h.start + end, h.text[start:end])


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to the whole words it cuts into: the reader's pieces can start or end
    inside a word ("s" of "Companies"), and a piece of a word is not an answer."""
    while start > 0 and text[start - 1].isalnum() and start < end and text[start].isalnum():
        start -= 1
    if start > 0 and text[start - 1] in "$€£¥" and start < end and text[start].isdigit():
        start -= 1  # "$3.5 billion": the currency is part of the amount
    while end < len(text) and text[end].isalnum() and end > start and text[end - 1].isalnum():
        end += 1
    return start, end


def span_reader_span(reading: Reading, retriever: Retriever) -> Span | None:
    """The span reader's best span inside the sentence `reading` quotes; None without a span reader."""
    return retriever.reader.span_in(reading.span, quoted_range(reading.hit, reading.span), headings(reading.hit))


def read(question: str, hits: Sequence[Hit], retriever: Retriever, calibration: Calibration) -> list[Reading]:
    """Every passage read with the question, best first by the fitted choice: the reader's margin,
    the search's score, and how many of the question's terms the quoted sentence shares. Within a
    passage the same choice picks the sentence: the reader's best span in each sentence, so that a
    sentence that names what is asked can win over a neighbour the reader liked slightly more.

    The reader reads each passage alone, so it cannot tell that "Combien AWS va-t-il investir ?"
    is better answered by the sentence that names AWS than by one about Microsoft's investment in
    another passage; the shared terms can."""
    per_sentence = retriever.reader.read_parts(
        question, [h.text for h in hits], [headings(h) for h in hits], [list(h.sentences) for h in hits], [h.title for h in hits]
    )
    terms, names = question_terms(question), name_terms(question)
    asked = what_is_asked(question)
    wanted = asked.wanted
    readings = []
    for i, (h, spans) in enumerate(zip(hits, per_sentence, strict=True)):
        candidates = []
        for sp in spans:
            context = context_of(h, sp)
            overlap, name_overlap = term_overlap(terms, context), term_overlap(names, context)
            mismatch = type_mismatch(wanted, h.text, sp.start, sp.end)
            choice = (
                sp.margin
                + calibration.choice_weight * h.score
                + calibration.overlap_weight * overlap
                + calibration.name_weight * name_overlap
                - calibration.type_weight * mismatch
            )
            candidates.append(Reading(h, sp, i, choice, overlap, name_overlap, mismatch))
        readings.append(with_slots(max(candidates, key=lambda r: r.choice), asked, retriever))
    return sorted(readings, key=lambda r: -r.choice)


def with_slots(reading: Reading, asked: Asked, retriever: Retriever) -> Reading:
    """The reading with its slot checks: whether its article, its passage and its sentence name what
    the question asks about, whether its number counts what is asked, and whether its sentence
    leaves what is asked empty."""
    h, sp = reading.hit, reading.span
    names, context, passage = asked.names, context_of(h, sp), f"{h.title}\n{h.text}"
    return replace(
        reading,
        article_names_missing=names_missing(names, retriever.article_text(h.doc_id)) if names else 0.0,
        names_missing=names_missing(names, passage),
        sentence_names_missing=names_missing(names, context),
        count_unfilled=count_unfilled(asked.counted, h.text, sp.start, sp.end),
        slot_unfilled=unfilled(asked, h.text[slice(*quoted_range(h, sp))], context, passage, h.date),
    )


def same_words(a: str, b: str) -> bool:
    """The same words, case, accents and punctuation aside ("2,9 milliards de dollars" twice)."""
    return bool(_stems(a)) and _WORD.findall(folded(a)) == _WORD.findall(folded(b))


def context_of(hit: Hit, span: Span) -> str:
    """The quoted sentence(s) and the sentence before them: where the question's terms should be."""
    s, e = quoted_range(hit, span)
    before = [a for a, b in hit.sentences if b <= s]
    return hit.text[(before[-1] if before else s) : e]


# Words that say nothing about what is asked (question words, articles, auxiliaries), French and English.
_STOP = frozenset(
    """le la les un une des du de d l au aux et ou en dans sur pour par avec sans ce cet cette ces qui que quoi
    quel quelle quels quelles quand comment combien pourquoi ou est sont a ont il elle ils elles on se s y ne pas
    son sa ses leur leurs lui t va vont fait faire etre avoir plus selon apres avant entre
    the a an of to in on at for by with from and or is are was were be been do does did has have had what which
    who whom whose when where why how much many it its this that these those will would can could should as into""".split()  # noqa: SIM905
)
_WORD = re.compile(r"\w+", re.UNICODE)


def _stems(text: str) -> list[str]:
    # Five letters stand in for a stem in both languages ("investira", "investir" → "inves").
    return [w if w.isdigit() else w[:5] for w in _WORD.findall(folded(text)) if w not in _STOP and (len(w) > 1 or w.isdigit())]


def question_terms(question: str) -> frozenset[str]:
    return frozenset(_stems(question))


def name_terms(question: str) -> frozenset[str]:
    """The question's names, acronyms and numbers (AWS, Kishida, 2027): the words that match across
    languages, and that tell one company's figure from another's."""
    words = _WORD.findall(question)
    names = [w for n, w in enumerate(words) if any(c.isdigit() for c in w) or (len(w) > 1 and w.isupper()) or (n > 0 and w[0].isupper())]
    return frozenset(_stems(" ".join(names)))


def term_overlap(terms: frozenset[str], text: str) -> float:
    """The share of the terms found in the text (0 when the question has none)."""
    return len(terms & set(_stems(text))) / len(terms) if terms else 0.0


def headings(hit: Hit) -> list[tuple[int, int]]:
    """Lines that are headings ("Partenariats de recherche": a few words, no closing punctuation)
    or the article's title: they say what the text is about, never what the answer is."""
    out = []
    for s, e in hit.sentences:
        line = hit.text[s:e].strip()
        closed = line.endswith((".", "!", "?", "»", "…", ":", '"', "”"))
        if (len(line.split()) <= HEADING_WORDS and not closed) or line == hit.title.strip():
            out.append((s, e))
    return out


def quoted_range(hit: Hit, span: Span) -> tuple[int, int]:
    """The sentence(s) of the passage that hold the span: what the answer quotes."""
    if not hit.sentences:
        return 0, len(hit.text)
    inside = [(s, e) for s, e in hit.sentences if s < max(span.end, span.start + 1) and e > span.start]
    if not inside:  # a span outside every sentence (a dateline): the sentence that follows it
        after = [(s, e) for s, e in hit.sentences if s >= span.start] or [hit.sentences[-1]]
        inside = after[:1]
    return inside[0][0], inside[-1][1]


def with_best_sentence(hit: Hit, start: int, end: int) -> Hit:
    """The hit with its highlighted sentence set to the quoted one (the chat marks it)."""
    scores = tuple(1.0 if (s >= start and e <= end) else 0.0 for s, e in hit.sentences)
    return replace(hit, sentence_scores=scores) if any(scores) else hit


def abstention(text: str, lang: str, hits: Sequence[Hit], confidence: float) -> Answer:
    return Answer(
        question=text, text=NOT_IN_ARTICLES[lang], citations=[], abstained=True, lang=lang, passages=list(hits), confidence=confidence
    )


