"""Passages found → an answer made of the articles' own sentences, each with its [n], or an abstention.

No language model: every word of an answer is quoted from an article, so it is grounded by
construction and costs nothing beyond the search.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from qa.calibration import Calibration, load_calibration
from qa.corpus import dateline_part
from qa.language import language_of
from qa.reader import Span
from qa.retrieval import Hit, Retriever, clean_question, readable

# Another article joins the answer when its reading is nearly as good as the best one's: both
# articles state the fact (cite both) or state it differently (show both).
SECOND_SOURCE_MARGIN = 1.0
MAX_SOURCES = 2
HEADING_WORDS = 6
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
class ShortAnswer:
    """The words that answer, inside the first quote: offsets into the article."""

    citation: int
    start: int
    end: int
    text: str


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
    # How likely the quoted answer is right, 0-1 (calibrated; qa/calibration.py).
    confidence: float = 0.0

    def sources_text(self) -> str:
        return "\n".join(source_line(n, hit) for n, hit in enumerate(self.citations, 1))

    def full_text(self) -> str:
        """The answer with its numbered sources, as the command line and the chat API return it."""
        if not self.citations:
            return self.text
        short = f"Short answer: {self.short_answer.text}\n" if self.short_answer else ""
        return f"{short}{self.text}\n\nConfidence: {self.confidence:.2f}\n\nSources:\n{self.sources_text()}"

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
        }


def answer(question: str, retriever: Retriever, history: Sequence[str] = ()) -> Answer:
    """Answer `question` from the indexed articles; `history` holds the user's earlier questions.

    Raises QuestionError (a ValueError) when the question is not text, or empty or blank.
    """
    settings = retriever.settings
    text = clean_question(question, settings.max_query_chars)
    history = [readable(h)[: settings.max_query_chars] for h in history if isinstance(h, str) and h.strip()]
    hits = retriever.search_vector(query_vector(text, history, retriever), k=settings.top_k)
    if not hits:
        return abstention(text, language_of(text, history), hits, 0.0)
    field_name = metadata_field(text)
    if field_name:
        about_article = metadata_answer(text, field_name, hits, retriever, language_of(text, history))
        if about_article is not None:
            return about_article
    calibration = load_calibration()
    # A follow-up ("Et AWS ?") was searched with the previous question's topic; the reader reads it
    # as typed, so that it looks for what is asked now, not for what was asked before.
    readings = read(text, hits, retriever, calibration)
    lang = language_of(text, history)
    best = readings[0]
    confidence = calibration.probability(best.features(hits[0], lang == "en"))
    threshold = settings.min_confidence if settings.min_confidence >= 0 else calibration.abstain_below
    if confidence < threshold:
        return abstention(text, lang, [r.hit for r in readings], confidence)
    picked = [best]
    for r in readings[1:]:
        if len(picked) == MAX_SOURCES:
            break
        # Nearly as good a reading, or the very same answer found in another article: cite both.
        close = r.choice >= best.choice - SECOND_SOURCE_MARGIN or same_words(r.answer_text, best.answer_text)
        if close and r.hit.doc_id not in {p.hit.doc_id for p in picked} and r.span.margin >= calibration.span_min_margin:
            picked.append(r)
    citations: list[Hit] = []
    quotes: list[Quote] = []
    for r in picked:
        s, e = quoted_range(r.hit, r.span)
        hit = with_best_sentence(r.hit, s, e)
        citations.append(hit)
        quotes.append(Quote(len(citations), hit.start + s, hit.start + e, hit.text[s:e], r.choice))
    short = short_answer(best, retriever, calibration, wanted_answer(text))
    body = "\n".join(f"{' '.join(q.text.split())} [{q.citation}]" for q in quotes)
    return Answer(
        question=text,
        text=body,
        citations=citations,
        abstained=False,
        lang=lang,
        quotes=quotes,
        passages=[r.hit for r in readings],
        short_answer=short,
        confidence=confidence,
    )


# The kinds of answer that are figures (wanted_answer): a span without one does not answer.
FIGURES = frozenset({"count", "money", "price"})


def short_answer(best: Reading, retriever: Retriever, calibration: Calibration, wanted: str = "") -> ShortAnswer | None:
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
    return ShortAnswer(1, h.start + start, h.start + end, h.text[start:end])


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to the whole words it cuts into: the reader's pieces can start or end
    inside a word ("s" of "Companies"), and a piece of a word is not an answer."""
    while start > 0 and text[start - 1].isalnum() and start < end and text[start].isalnum():
        start -= 1
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
    wanted = wanted_answer(question)
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
        readings.append(max(candidates, key=lambda r: r.choice))
    return sorted(readings, key=lambda r: -r.choice)


def same_words(a: str, b: str) -> bool:
    """The same words, case, accents and punctuation aside ("2,9 milliards de dollars" twice)."""
    return bool(_stems(a)) and _WORD.findall(_folded(a)) == _WORD.findall(_folded(b))


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


def _folded(text: str) -> str:
    """Lower case, without accents."""
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


def _stems(text: str) -> list[str]:
    folded = _folded(text)
    # Five letters stand in for a stem in both languages ("investira", "investir" → "inves").
    return [w if w.isdigit() else w[:5] for w in _WORD.findall(folded) if w not in _STOP and (len(w) > 1 or w.isdigit())]


def question_terms(question: str) -> frozenset[str]:
    return frozenset(_stems(question))


def name_terms(question: str) -> frozenset[str]:
    """The question's names, acronyms and numbers (AWS, Kishida, 2027): the words that match across
    languages, and that tell one company's figure from another's."""
    words = _WORD.findall(question)
    names = [w for n, w in enumerate(words) if any(c.isdigit() for c in w) or (len(w) > 1 and w.isupper()) or (n > 0 and w[0].isupper())]
    return frozenset(_stems(" ".join(names)))


# Questions whose answer is a quantity or a year. "Quand"/"when" are left out: their answers are as
# often events ("à la fin de la guerre") as dates.
_ASKS_NUMBER = re.compile(
    r"\b(combien|how (many|much|long|old|tall|high|far|large|big)|(en )?quelle année|(in )?(what|which) year|quel âge|"
    r"quel(le)? (est|était|sont|étaient) (la|le|les) (nombre|hauteur|taille|longueur|durée|superficie|population|montant|prix|"
    r"altitude|âge|distance|poids|budget|coût)|what (is|was|are|were) the (number|height|size|length|population|amount|price|"
    r"altitude|age|distance|weight|budget|cost))\b",
    re.I,
)
_NUMBER_WORDS = frozenset(
    """deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize vingt trente quarante
    cinquante soixante cent cents mille million millions milliard milliards dizaine dizaines douzaine vingtaine trentaine
    quarantaine cinquantaine soixantaine centaine centaines
    millier milliers moitié tiers quart aucun aucune zéro zero none two three four five six seven eight nine ten eleven twelve twenty thirty forty
    fifty sixty hundred hundreds thousand thousands million billion dozen dozens half""".split()  # noqa: SIM905
)


def asks_for_number(question: str) -> bool:
    """Does the question ask how many, how much or what year (in French or English)?"""
    return bool(_ASKS_NUMBER.search(question))


def holds_number(text: str) -> bool:
    """Digits or a number word ("deux", "millions", "dozen")."""
    return any(c.isdigit() for c in text) or any(w.lower() in _NUMBER_WORDS for w in _WORD.findall(text))


# Kinds of answer a question's words ask for, in French and English. News asks how much was
# invested and how many jobs, people or data centres it brings, and writes all of them in one
# paragraph: the reader alone takes "17,500" for how much AWS will invest. A count is asked "how
# many X" / "combien de X"; money, by a verb or noun of paying, costing or investing. "Livres" and
# "pounds" are books and weights as often as money, so only "livres sterling", "pounds sterling"
# and "£" say money; "by how much" asks for a change, which may be a percentage. A share price is
# money too ("What is Nvidia's share price?", "le cours de l'action"; "the course of a river" is
# "le cours" as well, so the French one needs its share), but the price of one share: news writes
# the billions invested next to the company's name, and a sum in millions or billions is not it.
# The words that name one share's price (the English one is asked "what is ..."), and of a large sum.
_SHARE_PRICE_EN = r"(?:share|stock|closing|opening) price\b"
_SHARE_PRICE_FR = r"(?:cours|prix|valeur)\b[^?]{0,25}?(?:\bde l['’]action|\bdes actions|\bde bourse|\bboursier)\b"
_SCALE_WORDS = r"milliards?|millions?|billions?|trillions?|bn"
_ASKS_COUNT = re.compile(r"\bhow many\b|\bcombien\s+(?:de\s+|d['’])(?!argent\b|dollars\b|euros\b|yens\b|temps\b)", re.I)
# "Combien de temps" asks for a duration ("une heure et demie", "la décennie"), not a count.
_ASKS_DURATION = re.compile(r"\bcombien de temps\b", re.I)
_ASKS_MONEY = re.compile(
    r"(?<!by )\bhow much\b(?:\s+money\b|.*\b(?:invest|spend|spent|cost|pay|paid|raise|earn|charge|fund)(?:s|ed|ing)?\b|.*\bworth\b)"
    r"|\bwhat (?:is|was|will be|were|are) the (?:price|cost|budget|amount|revenue|turnover|salary|fine|market (?:value|capitali[sz]ation))\b"
    rf"|\bwhat(?:['’]s| is| was| will be) (?:(?:the|its|their|current|latest|today['’]s|[\w.&-]+['’]s?) ){{0,3}}{_SHARE_PRICE_EN}"
    r"|(?<!de )\bcombien\b.*\b(?:investi(?:r|t|ra|ront|ssent|ssait)?|dépens\w*|co[uû]t(?:e|é|era|ent|ait|er)?|pa[yi](?:e|é|er|era|ent|ait|ront)?|vau[td]|valait|valoir|financ\w*)\b"
    r"|\bcombien\s+(?:d['’]argent|de\s+(?:dollars|euros|yens))\b|\bquelle somme\b"
    r"|\bquel(?:le)? (?:est|était|sera|a été) (?:le|la) (?:prix|coût|budget|montant|chiffre d['’]affaires|capitalisation|salaire|amende|valeur boursière)\b"
    rf"|\bquel(?:le)? (?:est|était|sera|a été) (?:le|la) {_SHARE_PRICE_FR}",
    re.I,
)
_SHARE_PRICE = re.compile(rf"\b{_SHARE_PRICE_EN}|\b{_SHARE_PRICE_FR}", re.I)
_SCALE = re.compile(rf"\b(?:{_SCALE_WORDS})\b", re.I)
_CURRENCY = r"(?:dollars?|euros?|livres? sterling|pounds? sterling|yens?|yuans?|roupies?|rupees?|francs?|wons?|roubles?|USD|EUR|GBP|JPY|CHF)"
_MONEY_WORD = re.compile(rf"(?<!\w){_CURRENCY}(?!\w)|[$€£¥]", re.I)
_MONEY_AFTER = re.compile(
    rf"\s*(?:(?:de\s+|d['’])?(?:{_SCALE_WORDS}|mille|thousand)(?!\w)\.?\s*)?(?:de\s+|d['’])?(?:{_CURRENCY}(?!\w)|[$€£¥])",
    re.I,
)
_MONEY_BEFORE = re.compile(r"[$€£¥]\s*$")
# A time is asked "quand" / "when" (a year alone is a number: "en quelle année"), and given as a
# date, a year, a weekday, a season, a century ("au XIXe siècle") or a time relative to an event
# ("après sa mort", "lors de la guerre"). On PIAF train, none of the 9 spans without any of these
# that answered a "quand" question was right.
_ASKS_TIME = re.compile(
    r"^\W*(?:quand|when)\b|\bdepuis quand\b|\bjusqu['’]à quand\b|\b(?:à|a|de|dans|pendant) quelle (?:date|époque|période|heure|saison)\b"
    r"|\b(?:on |at )?what (?:date|time|day|month|period|century|decade)\b|\bin which (?:month|century|decade|period)\b",
    re.I,
)
_TIME_WORDS = re.compile(
    r"\d|(?-i:\b[IVXLC]+(?:e|ème|er)\b)|\b(?:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre"
    r"|january|february|march|april|may|june|july|august|september|october|november|december"
    r"|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|printemps|étés?|automnes?|hivers?|saisons?|périodes?|spring|summer|autumn|fall|winter|siècles?|century|centuries|décennies?|decades?"
    r"|ans|années?|years?|mois|months?|semaines?|weeks?|jours?|days?|heures?|hours?|soir|matin|nuit|morning|evening|night"
    r"|aujourd['’]hui|today|hier|yesterday|demain|tomorrow|avant|après|after|before|pendant|during|depuis|since|lors|until|jusqu['’]"
    r"|fin|début|end|beginning|époque|ère|era|guerres?|wars?|règne|reign|naissance|birth|mort|death|renaissance|antiquité|moyen[- ]âge"
    r"|quand|when|alors|ensuite|puis|then|moment|times?|fois|prochaine?s?|next|dernière?s?|last|récemment|recently|bientôt|soon)\b",
    re.I,
)


def wanted_answer(question: str) -> str:
    """What kind of answer the question asks for: "count", "money", "price" (of one share),
    "number" (a year, an age, a length...), "time" (when, or how long: "combien de temps") or ""
    (anything)."""
    if _ASKS_COUNT.search(question):
        return "count"
    if _ASKS_DURATION.search(question):
        return "time"
    if _ASKS_MONEY.search(question):
        return "price" if _SHARE_PRICE.search(question) else "money"
    if asks_for_number(question):
        return "number"
    return "time" if _ASKS_TIME.search(question) else ""


def money_at(text: str, start: int, end: int) -> bool:
    """Is text[start:end] an amount of money: a currency in it, or just before or after it ("$8 billion")?"""
    return bool(_MONEY_WORD.search(text, start, end) or _MONEY_BEFORE.search(text[max(0, start - 4) : start]) or _MONEY_AFTER.match(text, end))


def type_mismatch(wanted: str, text: str, start: int, end: int) -> bool:
    """The span text[start:end] is not the kind of answer `wanted` (wanted_answer): no number where a
    number is asked, no money where money is, a sum in millions or billions where a share price is,
    money where a count of things is, no time where a time is."""
    if not wanted:
        return False
    if wanted == "money":
        return not money_at(text, start, end)
    if wanted == "price":
        return not money_at(text, start, end) or bool(_SCALE.search(text, start, end + 14))  # "150" [milliards]
    if wanted == "time":
        return not _TIME_WORDS.search(text, start, end)
    if not holds_number(text[start:end]):
        return True
    return wanted == "count" and money_at(text, start, end)


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


# Questions about the article itself (who published it, when, from where) name the article and
# ask for one of its metadata; a question that only mentions publishing ("Quel journal a publié
# la découverte ?") is about the news, not the article, and goes to the reader.
_ARTICLE_WORDS = re.compile(r"\b(l['’]article|cet article|ces articles|la dépêche|cette dépêche|the (article|story|report|piece)|this (article|story|report|piece))\b", re.I)
_ASKS_DATE = re.compile(r"\b(quand|quelle date|à quelle date|date de (publication|parution)|when|what date|which date|dated)\b", re.I)
_ASKS_PLACE = re.compile(r"\b(d['’]où|de quel(le)? (ville|lieu)|from where|which city|what city|where)\b", re.I)
_ASKS_SOURCE = re.compile(
    r"\b(qui|quel(le)?s? (agence|site|média|journal|source|éditeur|publication)|source|who|which|what)\b.*"
    r"\b(publi\w*|écrit|rédigé|diffusé|source|agence|site|wrote|written|published|publisher|agency|outlet|source|released)\b",
    re.I,
)


def metadata_field(question: str) -> str:
    """"source", "date" or "place" when the question asks that of the article itself, else ""."""
    if not _ARTICLE_WORDS.search(question):
        return ""
    publishing = re.search(r"publi|écrit|rédig|diffus|paru|wrote|written|publish|filed|released|posted|dated", question, re.I)
    if _ASKS_DATE.search(question) and publishing:
        return "date"
    if _ASKS_PLACE.search(question) and re.search(r"écrit|rédig|daté|filed|written|datelined|dated", question, re.I):
        return "place"
    if _ASKS_SOURCE.search(question):
        return "source"
    return ""


def metadata_answer(question: str, field_name: str, hits: Sequence[Hit], retriever: Retriever, lang: str) -> Answer | None:
    """An answer from the best article's `field_name` ("source", "date" or "place"), cited where the
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
    }
    text = f"{words[(field_name, lang)]} [1]"
    quote = Quote(1, hit.start + at, hit.start + at + len(cited), cited, 1.0)
    s, e = dateline_part(cited, field_name) if cited != value else (0, len(cited))
    short = ShortAnswer(1, quote.start + s, quote.start + e, cited[s:e])
    return Answer(question, text, [hit], False, lang, [quote], list(hits), short, 1.0)


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
