"""Two articles' answers → whether they agree: the same amount, date, count or name, written in
either language ("2,9 milliards de dollars" = "$2.9 billion"; "mardi" = "10 avril" when the article
is dated Wednesday 11 April... resolved against the article's date), or not.

News is many outlets on one event: where they agree the answer is stronger, where they differ (a
figure, a date, who said it) a reader must see both. Values that cannot be compared (two
sentences, one figure and one name) give None: neither agree nor differ is claimed.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

_SCALES = {
    "k": 1e3, "mille": 1e3, "thousand": 1e3,
    "m": 1e6, "mn": 1e6, "million": 1e6, "millions": 1e6,
    "md": 1e9, "mds": 1e9, "mrd": 1e9, "bn": 1e9, "b": 1e9, "milliard": 1e9, "milliards": 1e9, "billion": 1e9, "billions": 1e9,
    "trillion": 1e12, "trillions": 1e12,
}  # fmt: skip
_CURRENCIES = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "¥": "JPY", "jpy": "JPY", "yen": "JPY", "yens": "JPY",
    "£": "GBP", "gbp": "GBP", "livres sterling": "GBP", "livre sterling": "GBP", "pounds": "GBP", "pound": "GBP",
    "chf": "CHF", "francs suisses": "CHF", "won": "KRW", "wons": "KRW", "yuan": "CNY", "yuans": "CNY",
}  # fmt: skip
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:[  ,.]\d{3})+(?![\d])|\d+(?:[.,]\d+)?)")
_SCALE_WORD = re.compile(r"^\s*(?:de\s+)?(milliards?|millions?|billions?|trillions?|mille|thousand|bn|mds?|mrd|mn|[kmb])\b\.?", re.I)
_CURRENCY_WORD = re.compile(
    r"(?:us\$|\$|€|¥|£|\b(?:usd|eur|jpy|gbp|chf|dollars?|euros?|yens?|livres? sterling|pounds?|francs suisses|wons?|yuans?)\b)", re.I
)
_MONTHS = {
    "janvier": 1, "january": 1, "jan": 1, "février": 2, "fevrier": 2, "february": 2, "feb": 2, "mars": 3, "march": 3, "mar": 3,
    "avril": 4, "april": 4, "apr": 4, "mai": 5, "may": 5, "juin": 6, "june": 6, "jun": 6, "juillet": 7, "july": 7, "jul": 7,
    "août": 8, "aout": 8, "august": 8, "aug": 8, "septembre": 9, "september": 9, "sept": 9, "sep": 9, "octobre": 10,
    "october": 10, "oct": 10, "novembre": 11, "november": 11, "nov": 11, "décembre": 12, "decembre": 12, "december": 12, "dec": 12,
}  # fmt: skip
_WEEKDAYS = {
    "lundi": 0, "monday": 0, "mardi": 1, "tuesday": 1, "mercredi": 2, "wednesday": 2, "jeudi": 3, "thursday": 3,
    "vendredi": 4, "friday": 4, "samedi": 5, "saturday": 5, "dimanche": 6, "sunday": 6,
}  # fmt: skip
_MONTH_WORDS = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:er|st|nd|rd|th)?\s+({_MONTH_WORDS})\.?(?:\s+(\d{{4}}))?", re.I)
_MONTH_DAY = re.compile(rf"\b({_MONTH_WORDS})\.?\s+(\d{{1,2}})(?!\d)(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_WORDS})\.?\s+(\d{{4}})\b", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_WEEKDAY = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")\b", re.I)
_STOP = frozenset(["le", "la", "les", "l", "de", "du", "des", "d", "et", "and", "the", "of", "a", "an", "un", "une", "en", "au", "aux", "par", "by", "for", "pour"])


@dataclass(frozen=True)
class Value:
    """What an answer states, made comparable: an amount (with its currency, if any), a date, a
    count, or a name (its folded words)."""

    kind: str  # "money", "number", "date", "name"
    amount: float = 0.0
    unit: str = ""  # a currency code for money
    day: tuple[int, int, int] = (0, 0, 0)  # (year or 0, month, day or 0)
    words: frozenset[str] = frozenset()
    # A date given as a weekday alone ("mercredi soir"): the weekday (0 = Monday) and the article's
    # date; news writes past and coming days alike, so the day resolved may be a week out.
    weekday: int = -1
    published: str = ""


def value_of(text: str, dated: str = "") -> Value | None:
    """The value a short answer states; `dated` is its article's date (ISO), to resolve a weekday."""
    when = date_of(text, dated)
    if when is not None:
        named = _WEEKDAY.search(text) if not (_ISO.search(text) or _DAY_MONTH.search(text) or _MONTH_DAY.search(text)) else None
        return Value("date", day=when, weekday=_WEEKDAYS[named.group(1).lower()] if named else -1, published=dated)
    amount = amount_of(digits(text))
    if amount is not None:
        number, currency = amount
        return Value("money" if currency else "number", number, currency)
    words = frozenset(w for w in _folded(text).split() if w not in _STOP and len(w) > 1)
    return Value("name", words=words) if words else None


def digits(text: str) -> str:
    """Numbers written in words, in French or English, as digits ("quatre terminaux" → "4 terminaux",
    "eleven" → "11"; "un" and "one" stay words: they are as often articles)."""
    from text_to_num import alpha2digit

    for lang in ("fr", "en"):
        with contextlib.suppress(ValueError, TypeError):  # a text the parser cannot read keeps its words
            text = alpha2digit(text, lang, threshold=2)
    return text


def amount_of(text: str) -> tuple[float, str] | None:
    """The first number in `text`, scaled by the word after it ("2,9 milliards" → 2.9e9), and its currency."""
    match = _NUMBER.search(text)
    if not match:
        return None
    raw = match.group(1)
    grouped = re.fullmatch(r"\d{1,3}(?:[  ,.]\d{3})+", raw)  # "1 400", "1,400", "1.400": thousands
    number = float(re.sub(r"[  ,.]", "", raw)) if grouped else float(raw.replace(",", "."))  # "2,9" = 2.9
    scale = _SCALE_WORD.match(text, match.end())
    if scale:
        word = scale.group(1).lower()
        number *= _SCALES.get(word, _SCALES.get(word.rstrip("s"), 1.0))
    currency = _CURRENCY_WORD.search(text)
    return number, _CURRENCIES.get(currency.group(0).lower(), "") if currency else ""


def date_of(text: str, dated: str = "") -> tuple[int, int, int] | None:
    """(year or 0, month, day) of a date written in `text`; a weekday alone is resolved to the last
    such day on or before the article's date."""
    for pattern, order in ((_ISO, "ymd"), (_DAY_MONTH, "dmy"), (_MONTH_DAY, "mdy"), (_MONTH_YEAR, "my")):
        match = pattern.search(text)
        if match:
            parts = dict(zip(order, match.groups(), strict=True))
            month = int(parts["m"]) if parts["m"].isdigit() else _MONTHS[parts["m"].lower()]
            return int(parts["y"] or 0), month, int(parts.get("d") or 0)
    weekday = _WEEKDAY.search(text)
    if not weekday:
        return None
    number = _WEEKDAYS[weekday.group(1).lower()]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", dated or ""):
        return 0, 0, -1 - number  # a weekday alone, unresolved: "mercredi" is "Wednesday" still
    published = date.fromisoformat(dated)
    day = published - timedelta(days=(published.weekday() - number) % 7)
    return day.year, day.month, day.day


def same(a: Value, b: Value) -> bool | None:
    """Whether two values say the same; None when they cannot be compared."""
    if a.kind != b.kind and {a.kind, b.kind} != {"money", "number"}:
        return None
    if a.kind == "date":
        if a.weekday >= 0 and a.weekday == b.weekday and _days_apart(a.published, b.published) <= 6:
            return True  # "mercredi soir" and "Wednesday evening" in articles of one week
        if (a.day[2] < 0) != (b.day[2] < 0):
            return None  # a weekday alone beside a date: not comparable without the article's date
        return a.day[1:] == b.day[1:] and (not a.day[0] or not b.day[0] or a.day[0] == b.day[0])
    if a.kind == "name":
        shared = len(a.words & b.words)
        return shared / min(len(a.words), len(b.words)) >= 0.5
    if a.unit and b.unit and a.unit != b.unit:
        return None  # yen and dollars: a conversion, not a disagreement
    if a.kind == b.kind == "number":
        return a.amount == b.amount  # 2027 and 2028 differ
    return abs(a.amount - b.amount) <= 0.005 * max(abs(a.amount), abs(b.amount))  # "$2.9bn" and "2,9 milliards de dollars"


def _days_apart(a: str, b: str) -> int:
    """Days between two ISO dates; 0 when either is unknown."""
    try:
        return abs((date.fromisoformat(a) - date.fromisoformat(b)).days)
    except ValueError:
        return 0


def agreement(values: list[Value | None]) -> str | None:
    """"agree" when every value says the same as the first, "differ" when one does not, None when
    fewer than two can be compared."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return None
    verdicts = [same(known[0], v) for v in known[1:]]
    if any(v is False for v in verdicts):
        return "differ"
    return "agree" if all(v is True for v in verdicts) else None


def _folded(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return re.sub(r"[^\w]+", " ", text)
