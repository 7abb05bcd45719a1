"""The slot a question asks to fill, and whether a quoted sentence fills it for what is asked about.

A near miss in news names the company, plant or place asked about and gives a figure, just not the
one asked ("How many people work at Varenne's plants in Morocco?" against "seven of its eleven
plants, including its two sites in Morocco"), or gives the figure asked for another plant ("Combien
d'emplois le campus de Mulhouse créera-t-il ?" against another article's "2 000 emplois"). Two
checks, read by qa/answer.py as inputs of the decision and the confidence (qa/calibration.py):
- the names the question asks about (places, companies, people) are written in the article, the
  passage quoted, its sentence, in either language ("Dresde"/"Dresden"; "Allemagne"/"Germany" from
  Babel's names of countries);
- the thing a count asks for ("combien d'emplois", "how many wafers") is what the number counts;
- a measure asked for ("What will be the power of…", "in square metres", "what share") has a unit of
  its kind in the quoted sentence, and a role asked for ("Who is Germany's economy minister?", "Qui
  dirigera le site ?") is written there, in either language: "150 megawatts" is not how much
  hydrogen a plant makes, and a terminal's president is not the transport minister.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from qa.question_kind import NUMBER_WORDS, TIME_WORDS, has_money, wanted_answer

_WORD = re.compile(r"\w+", re.UNICODE)
_CAPITALISED_PAIR = re.compile(r"\b[^\W\d_a-z]\w*[-\s][^\W\d_a-z]\w*")

# Capitalised words that open a question or a clause without naming anything.
_NOT_NAMES = frozenset(
    """quel quelle quels quelles qui que quoi quand comment combien pourquoi où ou est sont selon pour dans
    what which who whom whose when where why how is are was were does did do will would the in on of for
    le la les l un une des du de d et and""".split()  # noqa: SIM905
)

# What a count counts, where French and English words share no stem: one group each, the words
# folded and cut to five letters as `stems` does. People are counted as jobs, staff, workers.
_COUNTED = (
    frozenset(
        {"emplo", "jobs", "job", "poste", "salar", "perso", "peopl", "worke", "staff", "trava", "agent", "effec", "embau", "hire", "hires", "hirin"}
        | {"parti", "atten", "habit", "resid", "inhab"}
    ),
    frozenset({"deten", "priso", "inmat", "capti"}),
    frozenset({"plaqu", "wafer"}),
    frozenset({"pays", "count", "natio", "etats"}),
    frozenset({"usine", "plant", "site", "sites", "fab", "fabs", "facto"}),
    frozenset({"entre", "socie", "compa", "firms", "firm", "group"}),
    frozenset({"voitu", "vehic", "cars", "car", "auto"}),
    frozenset({"train", "rames", "rame"}),
    frozenset({"resea", "cherc", "scien"}),
    frozenset({"etudi", "stude", "eleve", "pupil"}),
    frozenset({"ingen", "engin"}),
    frozenset({"conte", "conta", "teu", "evp"}),
)
# What "combien de" / "how many" asks for but is no count of things: money, time, a measure.
_UNCOUNTED = frozenset(
    """argen temps eau donne calcu impot taxes aides aide hydro elect energ capac money time water data compu tax""".split()  # noqa: SIM905
)
# A number in a sentence: digits, or a number word ("une quarantaine", "eleven").
_NUMBER = re.compile(r"\d+(?:[.,\s\u202f\u00a0]\d+)*|\b(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b", re.I)
# Peoples, as English capitalises them and French does not ("French companies", "entreprises
# françaises"): an adjective of one is written as the other, or as the country.
_PEOPLES = (
    ("french", "francais", "france"), ("japanese", "japonais", "japon", "japan"), ("german", "allemand", "allemagne", "germany"),
    ("american", "americain", "etats unis", "united states"), ("chinese", "chinois", "chine", "china"),
    ("british", "britannique", "royaume uni", "united kingdom"), ("european", "europeen", "europe"),
    ("canadian", "canadien", "canada"), ("indian", "indien", "inde", "india"), ("korean", "coreen", "coree", "korea"),
    ("taiwanese", "taiwanais", "taiwan"), ("moroccan", "marocain", "maroc", "morocco"), ("italian", "italien", "italie", "italy"),
    ("spanish", "espagnol", "espagne", "spain"),
)
# "How many people" / "combien de salariés": the words after the count word, up to the first that is
# not part of the thing counted ("how many electric pickups a year", "combien d'emplois le campus").
_COUNT = re.compile(r"\bhow many\s+([\w-]+(?:\s+[\w-]+)?)|\bcombien\s+(?:de\s+|d['’])([\w-]+(?:\s+[\w-]+)?)", re.I)
_NOT_COUNTED = frozenset(
    """a an the of per at in on for by to from will would do does did is are was were has have had can could work works
    le la les l un une de des du d par pour dans sur en au aux a ont sont est va vont sera seront y il elle ils elles""".split()  # noqa: SIM905
)
# How far after a number the counted thing is written ("4 200 salariés", "40,000 twelve-inch wafers").
_AFTER = 40
# Or just before it ("employs 4,200", "seven of its eleven plants").
_BEFORE = 20


def folded(text: str) -> str:
    """Lower case, without accents."""
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


def _spaced(text: str) -> str:
    """Hyphens and apostrophes as spaces: "etats-unis" is written "etats unis" both in names and text."""
    return re.sub(r"[-'’]", " ", text)


def stems(text: str) -> list[str]:
    """Five letters stand in for a stem in both languages ("investira", "investir" → "inves")."""
    return [w if w.isdigit() else w[:5] for w in _WORD.findall(folded(text))]


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """A country's name in French or English (folded) → its code: "allemagne" and "germany" → DE."""
    from babel import Locale

    out: dict[str, str] = {}
    for lang in ("fr", "en"):
        for code, name in Locale(lang).territories.items():
            if code.isalpha():
                out[_spaced(folded(name))] = code
    return out


# "XXème", "XIXe", "IIIrd": a century or an ordinal, not a name. "IEPs", "GPUs": an acronym's plural.
_CENTURY = re.compile(r"^[IVXLCDM]+(?:e|eme|ème|er|ère|th|st|nd|rd)?$")
_ACRONYMS = re.compile(r"^([A-Z]{2,})s$")


def question_names(question: str) -> list[str]:
    """The names the question asks about: capitalised words past its first, and acronyms
    ("Varenne", "Morocco", "KASM"), folded, with countries of several words kept whole."""
    words = [_ACRONYMS.sub(r"\1", w) for w in _WORD.findall(question) if not _CENTURY.match(w)]
    names = [w for n, w in enumerate(words) if (len(w) > 1 and w.isupper()) or (n > 0 and w[0].isupper() and folded(w) not in _NOT_NAMES)]
    text = _spaced(folded(question))
    # Countries of several words ("États-Unis", "United Kingdom"): looked up only where two capitalised
    # words follow each other, so that most questions never load the names of countries.
    several = _CAPITALISED_PAIR.search(question)
    countries = [c for c in _countries() if " " in c and re.search(rf"\b{re.escape(c)}\b", text)] if several else []
    inside = {w for c in countries for w in c.split()}
    return sorted({folded(w) for w in names if folded(w) not in inside} | set(countries))


def _written(name: str, text: str, words: set[str]) -> bool:
    """Is `name` written in `text` (folded; `words` its words), in either language: the same word,
    the same country, or a spelling sharing its first letters ("dresde"/"dresden", "dunkerque"/"dunkirk")?"""
    if name in words or (" " in name and name in text):
        return True
    for people in _PEOPLES:
        if name in people and any(re.search(rf"\b{p}", text) for p in people):
            return True
    country = _countries().get(name)
    if country and any(c == country and re.search(rf"\b{re.escape(n)}\b", text) for n, c in _countries().items()):
        return True
    return len(name) >= 5 and any(len(w) >= 5 and w[:4] == name[:4] and abs(len(w) - len(name)) <= 3 for w in words)


def names_missing(names: list[str], text: str) -> float:
    """The share of the question's names not written in `text` (0 when it names nothing)."""
    if not names:
        return 0.0
    low = _spaced(folded(text))
    words = set(_WORD.findall(low))
    return sum(not _written(n, low, words) for n in names) / len(names)


def counted(question: str) -> frozenset[str]:
    """The stems of what a count asks for ("combien d'emplois" → {"emplo", and the words of its group}),
    empty when the question does not ask how many."""
    m = _COUNT.search(question)
    if not m:
        return frozenset()
    kept = []
    for word in _WORD.findall(m.group(1) or m.group(2)):
        w = folded(word)
        if w in _NOT_COUNTED or w.isdigit() or (kept and word[0].isupper()):  # "combien d'adhérents Lutte ouvrière"
            break
        kept.append(w[:5])
    asked = set(kept)
    if asked & _UNCOUNTED:
        return frozenset()
    return frozenset(asked.union(*(g for g in _COUNTED if g & asked)))


def count_unfilled(asked: frozenset[str], text: str, start: int, end: int) -> bool:
    """The number at text[start:end] does not count what is asked: none of `asked` in it, just before or just after it."""
    return bool(asked) and not _counts(asked, stems(text[max(0, start - _BEFORE) : end + _AFTER]))


def no_count_of(asked: frozenset[str], text: str) -> bool:
    """`text` counts something else, not what is asked: it has no number, or the thing asked is written
    nowhere in it and one of its numbers counts another thing we know ("How many people work at
    Varenne's plants in Morocco?" against "seven of its eleven plants"). Things we do not know are
    given the benefit of the doubt: "700 cavaliers" may be the men asked for, "700 000 personnes"
    the peasants."""
    if not asked:
        return False
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return True
    if _counts(asked, stems(text)):
        return False
    asked_known = any(g & asked for g in _COUNTED)
    for m in numbers:
        group = _counted_after(text, m.start(), m.end())
        if group is not None and not (group & asked) and (asked_known or group is not _COUNTED[0]):
            return True
    return False


def _counted_after(text: str, start: int, end: int) -> frozenset[str] | None:
    """The known thing the number at text[start:end] counts: the first word after it (or just before
    it) that names one of _COUNTED's groups."""
    for w in stems(text[end : end + _AFTER]) + stems(text[max(0, start - _BEFORE) : start])[::-1]:
        for g in _COUNTED:
            if w in g:
                return g
    return None


def _counts(asked: frozenset[str], words: list[str]) -> bool:
    """One of the words is one of `asked`, or shares its first four letters ("toxic"/"toxiques")."""
    return bool(asked & set(words)) or any(len(a) >= 4 and len(w) >= 4 and a[:4] == w[:4] for a in asked for w in words)


@dataclass(frozen=True)
class Slot:
    """A measure or a role the question asks for, and what writes it in an answer."""

    kind: str  # "measure" or "role"
    name: str  # "power", "minister"…
    fills: re.Pattern[str]


# A measure: what asks for it in a question, and the units that write it (French and English).
# Unit symbols are matched with their case ("MW", "GWh": "mw" is not a unit), words without it.
_I = re.I
_MEASURES: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    ("teu", re.compile(r"\b(?:TEU|EVP)\b"), re.compile(r"\b(?:TEU|EVP)\b|conteneurs? de vingt pieds|twenty-foot", _I)),
    (
        "energy",
        re.compile(r"\b(?:[kMGT]Wh|gigawatt-hours?|gigawattheures?)\b"),
        re.compile(r"\b(?:[kMGT]Wh|(?:kilo|m[ée]ga|giga|t[ée]ra)watts?[- ]?heures?|(?:kilo|mega|giga|tera)watt[- ]hours?)\b"),
    ),
    (
        "power",
        re.compile(r"\bpuissance (?:de|du|des|d['’])|\bpower of\b|\b(?:en|in) (?:m[ée]gawatts|gigawatts|MW|GW)\b", _I),
        re.compile(r"\b(?:[kMG]W|(?:kilo|m[ée]ga|giga)watts?|watts?)\b"),
    ),
    (
        "area",
        re.compile(r"\b(?:superficie|surface|area|(?:in|en) (?:square met\w+|m[èe]tres carr[ée]s|hectares))\b", _I),
        re.compile(r"\b(?:hectares?|ha|km2|m2|m[èe]tres carr[ée]s|kilom[èe]tres carr[ée]s|square (?:met|kilomet)(?:re|er)s?|square feet|acres?)\b|m²|km²", _I),
    ),
    (
        "speed",
        re.compile(r"\b(?:vitesse|speed)\b", _I),
        re.compile(r"\bkm/h\b|\bkilom[eè]tres? (?:par|à l['’])heure\b|\bkilomet(?:re|er)s? (?:per|an) hour\b|\bmph\b|\bn[œo]euds\b|\bknots\b", _I),
    ),
    (
        "mass",
        re.compile(r"\b(?:en|in) (?:tonnes|tons)\b|\b(?:how much|combien d['’])\s*(?:hydrog\w+|ammonia|ammoniac|acier|steel|lithium|cuivre|copper)\b", _I),
        re.compile(r"\b(?:tonnes?|tons?|t|kg|kilos?|kilogrammes?|kilograms?)\b", _I),
    ),
    (
        "volume",
        re.compile(r"\bhow much water\b|\bcombien d['’]eau\b|\b(?:en|in) (?:litres|liters|m[èe]tres cubes|cubic met\w+)\b", _I),
        re.compile(r"\b(?:tonnes?|tons?|litres?|liters?|m3|hectolitres?|m[èe]tres cubes|cubic met(?:re|er)s?|gallons?)\b|m³", _I),
    ),
    (
        "share",
        re.compile(r"\b(?:what share|quelle part|what percentage|quel pourcentage|what proportion|quelle proportion|(?:en|in) (?:per cent|pour cent|%))", _I),
        re.compile(r"%|\b(?:per ?cent|pour ?cent|moiti[ée]|half|tiers|thirds?|quarts?|quarters?|majorit\w+|minorit\w+)\b", _I),
    ),
)
# A role: its words, French and English. Asked "who is [the] [Germany's] [federal economy] minister",
# "quel ministre", "qui dirige…"; written anywhere in the quoted sentence or the one before.
_ROLE_WORDS: tuple[tuple[str, str], ...] = (
    ("minister", r"minist\w*|secr[ée]taire d['’][ée]tat|secretary"),
    ("governor", r"gouverneur\w*|governor\w*"),
    ("prefect", r"pr[ée]f[eè]te?s?\b|prefects?\b"),
    ("mayor", r"maires?\b|mayors?\b"),
    ("elected", r"[ée]lus?\b|lawmakers?|s[ée]nat\w*|senator\w*|d[ée]put[ée]\w*|representative\w*|congress\w*|governor\w*|gouverneur\w*"),
    (
        "head",
        r"dirig\w*|direct\w*|chief\w*|heads?\b|headed|\bled\b|lead\w*|manag\w*|pdg\b|p\.-d\.g\.|ceo\b|boss\w*|patron\w*|pr[ée]sid\w*|chair\w*|run(?:s|ning)?\b",
    ),
    ("founder", r"fonda(?:teur|trice)s?\b|fond[ée]e?s?\b|co-?found\w*|found(?:er|ers|ed)\b"),
    ("spokesperson", r"porte-parole|spokes\w*"),
)
_ASKS_ROLE = r"^\W*(?:(?:who|qui)(?: (?:is|was|will be|are|were|est|sera|était|sont))?(?: (?:the|le|la|l['’]|les))? ?(?:[\w-]+['’]s )?(?:[\w-]+ ){0,3}|(?:quel|quelle|quels|quelles|which|what) (?:[\w-]+ )?)"
# Each role: how a question asks for it (the role word in group "role"), and what writes it. A ministry
# is headed by its minister, so a minister's words fill "head" too.
_ROLES: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (
        name,
        re.compile(rf"{_ASKS_ROLE}(?P<role>{words})", _I),
        re.compile(rf"\b(?:{_ROLE_WORDS[0][1]}|{words})" if name == "head" else rf"\b(?:{words})", _I),
    )
    for name, words in _ROLE_WORDS
)
# "Qui dirige Hydrova ?", "Who will run the plant?": a verb of leading asks for a role only when what is
# led is a body (a name, a company, a site…), not "les opérations" or "la mise en scène".
_LEADS = re.compile(r"(?:dirig|lead|head|run|manag|led\b)", re.I)
_LED_BODY = re.compile(
    r"\s+(?:(?:le|la|les|l['’]|the|its|their|son|sa|ses|leur)\s*)?(?:(?-i:[A-Z])|(?:site|usine|plant|fab|factory|entreprise|company|soci[ée]t[ée]|groupe?"
    r"|institut|institute|centre|center|laboratoire|lab|campus|terminal|port|agence|agency|minist|banque|bank|fonds|fund|start-up|filiale|subsidiary|firm"
    r"|[ée]quipe|team|universit|h[ôo]pital|hospital|journal|newspaper|r[ée]gion|ville|city|pays|country)\w*)",
    re.I,
)


@lru_cache(maxsize=256)
def asked_slot(question: str, wanted: str | None = None) -> Slot | None:
    """The measure or the role the question asks for, None when it asks for neither. A question
    that asks for money or a time (`wanted`, as wanted_answer says) asks for no measure: "Combien
    va-t-il investir dans sa puissance de calcul ?" wants money."""
    wanted = wanted_answer(question) if wanted is None else wanted
    if wanted not in ("money", "price", "time"):
        for name, asks, fills in _MEASURES:
            if asks.search(question):
                return Slot("measure", name, fills)
    for name, asks, fills in _ROLES:
        m = asks.search(question)
        if m and (name != "head" or _leads_a_body(question, m)):
            return Slot("role", name, fills)
    return None


def _leads_a_body(question: str, m: re.Match[str]) -> bool:
    """The head role is asked by a noun ("PDG", "chief executive"), or by a verb of leading whose object is a body."""
    return not _LEADS.match(m.group("role")) or bool(_LED_BODY.match(question, m.end()))


def slot_unfilled(slot: Slot | None, text: str) -> bool:
    """The text does not write the measure or the role asked for (no unit of its kind, no role word)."""
    return slot is not None and not slot.fills.search(text)


# A year the question names ("in 2015", "en 2020"): the answer's sentence, the one before or the
# article's date must write it.
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")


@dataclass(frozen=True)
class Asked:
    """What a question asks about and for, read once per question."""

    names: list[str]
    counted: frozenset[str]
    slot: Slot | None
    wanted: str  # as question_kind.wanted_answer says
    years: frozenset[str]


def what_is_asked(question: str) -> Asked:
    wanted = wanted_answer(question)
    return Asked(question_names(question), counted(question), asked_slot(question, wanted), wanted, frozenset(_YEAR.findall(question)))


def unfilled(asked: Asked, sentence: str, context: str, passage: str = "", date: str = "") -> bool:
    """The quoted `sentence` (`context`: it and the one before) leaves what is asked empty: no unit
    of the measure or word of the role asked in the context; numbers counting other things, no
    amount of money where money is asked, no time where a time is, in the sentence; a year asked
    written neither in its `passage` nor in the article's `date`."""
    if slot_unfilled(asked.slot, context) or no_count_of(asked.counted, sentence):
        return True
    if (asked.wanted in ("money", "price") and not has_money(sentence)) or (asked.wanted == "time" and not TIME_WORDS.search(sentence)):
        return True
    return bool(asked.years) and not (asked.years & set(_YEAR.findall(f"{passage} {date}")))
