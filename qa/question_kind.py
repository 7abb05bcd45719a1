"""A question → the kind of answer it asks for: a count, a sum of money, one share's price, a number
(a year, an age, a length...), a time, or anything; and whether a span of text is of that kind.

Read by qa/answer.py twice: a span of the wrong kind counts against its passage when the answer is
chosen, and is not shown as the short answer where a figure is asked.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)

# The kinds of answer that are figures (wanted_answer): a span without one does not answer.
FIGURES = frozenset({"count", "money", "price"})


# Questions whose answer is a quantity or a year. "Quand"/"when" are left out: their answers are as
# often events ("à la fin de la guerre") as dates.
_ASKS_NUMBER = re.compile(
    r"\b(combien|how (many|much|long|old|tall|high|far|large|big)|(en )?quelle année|(in )?(what|which) year|quel âge|"
    r"quel(le)? (est|était|sont|étaient) (la|le|les) (nombre|hauteur|taille|longueur|durée|superficie|population|montant|prix|"
    r"altitude|âge|distance|poids|budget|coût)|what (is|was|are|were) the (number|height|size|length|population|amount|price|"
    r"altitude|age|distance|weight|budget|cost))\b",
    re.I,
)
NUMBER_WORDS = frozenset(
    """deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize vingt trente quarante
    cinquante soixante cent cents mille million millions milliard milliards dizaine dizaines douzaine quinzaine vingtaine trentaine
    quarantaine cinquantaine soixantaine centaine centaines
    millier milliers moitié tiers quart aucun aucune zéro zero none two three four five six seven eight nine ten eleven twelve twenty thirty forty
    fifty sixty hundred hundreds thousand thousands million billion dozen dozens half""".split()  # noqa: SIM905
)


def asks_for_number(question: str) -> bool:
    """Does the question ask how many, how much or what year (in French or English)?"""
    return bool(_ASKS_NUMBER.search(question))


def holds_number(text: str) -> bool:
    """Digits or a number word ("deux", "millions", "dozen")."""
    return any(c.isdigit() for c in text) or any(w.lower() in NUMBER_WORDS for w in _WORD.findall(text))


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
TIME_WORDS = re.compile(
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


# In a sentence that answers "how much", "100 million pounds" is money.
_AMOUNT_IN_POUNDS = re.compile(rf"\d(?:[\d\s.,]*\d)?\s*(?:(?:de\s+|d['’])?(?:{_SCALE_WORDS}|mille|thousand)\s+)?(?:de\s+|d['’])?(?:pounds|livres)\b", re.I)


def has_money(text: str) -> bool:
    """Does the text write an amount of money anywhere (a currency's name or sign)?"""
    return bool(_MONEY_WORD.search(text) or _AMOUNT_IN_POUNDS.search(text))


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
        return not TIME_WORDS.search(text, start, end)
    if not holds_number(text[start:end]):
        return True
    return wanted == "count" and money_at(text, start, end)
