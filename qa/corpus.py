"""Articles on disk → `Article` records with the metadata a citation needs.

The stored text is the file's text exactly (decoded), so that passage offsets point into the file.
Metadata is read from what the text itself says: a Markdown front matter or `# title`, a title
line, a news dateline ("Tokyo, April 10 (Reuters) — ") or a `date YYYY-MM (Place)` header, an
agency byline, a closing "first published on X" line.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.boilerplate import AGENCY_LINE, boilerplate, byline_author, lines
from qa.convert import iso_date
from qa.files import write_atomically

log = logging.getLogger(__name__)

ARTICLE_SUFFIXES = (".txt", ".md")
# A news article is tens of kilobytes; beyond this a file is a mistake (a dump, a log) and would
# cost minutes of embedding. Applies to every article, uploaded or dropped into the folder.
MAX_ARTICLE_BYTES = 2_000_000

DATE_HEADER = re.compile(r"\s*(?:date\s*:?\s*)(?P<date>\d{4}(?:-\d{2}){0,2})\s*(?:\((?P<place>[^)\n]{1,60})\))?", re.I)
_MONTHS = {
    **dict.fromkeys(("janvier", "january", "jan"), 1),
    **dict.fromkeys(("février", "fevrier", "february", "feb"), 2),
    **dict.fromkeys(("mars", "march", "mar"), 3),
    **dict.fromkeys(("avril", "april", "apr"), 4),
    **dict.fromkeys(("mai", "may"), 5),
    **dict.fromkeys(("juin", "june", "jun"), 6),
    **dict.fromkeys(("juillet", "july", "jul"), 7),
    **dict.fromkeys(("août", "aout", "august", "aug"), 8),
    **dict.fromkeys(("septembre", "september", "sept", "sep"), 9),
    **dict.fromkeys(("octobre", "october", "oct"), 10),
    **dict.fromkeys(("novembre", "november", "nov"), 11),
    **dict.fromkeys(("décembre", "decembre", "december", "dec"), 12),
}
_AGENCIES = (
    r"Agence France[- ]Presse|AFP|Reuters|Associated Press|AP|Bloomberg|Kyodo(?: News)?|Jiji(?: Press)?|Belga|ANSA|EFE|dpa|"
    r"Xinhua|Yonhap|Anadolu|Europa Press|La Presse canadienne|The Canadian Press|CP|CNN|BBC|Reuters Breakingviews"
)
_MONTH_WORDS = "|".join(sorted(_MONTHS, key=len, reverse=True))
# A news dateline opens an article's first paragraph: "Washington, 2 April 2024 — ", "TOKYO, April 10
# (Reuters) - ", "Tokyo, avril 2024 — ", "PARIS (AFP) — ", "WASHINGTON — ". It says where and when the
# story was filed: metadata, like the `date YYYY-MM (Place)` header, never a sentence's first words.
_PLACE = r"[A-ZÀ-ÖØ-Þ][\w’'.-]*(?:[ -](?:[A-ZÀ-ÖØ-Þ][\w’'.-]*|de|del|do|da|du|la|le|les|am|sur|upon)){0,3}"
_DATELINE = re.compile(
    rf"[ \t]*(?P<place>{_PLACE})"
    r"(?:\s*,\s*(?P<date>(?i:le\s+)?(?:(?P<day>\d{1,2})(?:er)?\s+)?(?P<month>(?i:" + _MONTH_WORDS + r"))\.?"
    r"(?:\s+(?P<day2>\d{1,2})(?:st|nd|rd|th)?)?(?:,?\s+(?P<year>\d{4}))?|(?P<iso>\d{4}-\d{2}(?:-\d{2})?)))?"
    rf"(?:\s*\((?P<agency>(?i:{_AGENCIES}))\))?"
    r"\s*(?P<dash>[—–]|--?)[ \t]+"
)


def dateline_at(text: str, pos: int = 0, end: int | None = None) -> re.Match[str] | None:
    """The news dateline that starts at `pos`, if one does. A place alone counts only in capitals
    before a dash ("WASHINGTON — "): "Microsoft — " opens sentences as well as datelines."""
    match = _DATELINE.match(text, pos, len(text) if end is None else end)
    if not match:
        return None
    if match.group("date") or match.group("agency"):
        day = int(match.group("day") or match.group("day2") or 1)
        return match if 1 <= day <= 31 else None
    place = match.group("place")
    return match if place.isupper() and len(place) >= 3 and match.group("dash") in "—–" else None


def article_dateline(text: str, start: int = 0) -> re.Match[str] | None:
    """The dateline (or `date YYYY-MM (Place)` header) at the start of one of the article's first
    paragraphs: after the title, a standfirst or a byline, at most a few lines down."""
    pos, lines = start, 0
    while pos < len(text) and lines < 6:
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if text[pos:end].strip():
            match = DATE_HEADER.match(text, pos, end) or dateline_at(text, pos, end)
            if match:
                return match
            lines += 1
        pos = end + 1
    return None


def dateline_part(dateline: str, field_name: str) -> tuple[int, int]:
    """Where in a dateline as stored ("New York, juin 2024") its date or place is written; the whole
    dateline when that part is not found."""
    match = DATE_HEADER.fullmatch(dateline) or dateline_at(dateline + " — ")
    if match and field_name in ("date", "place") and match.group(field_name):
        return match.span(field_name)
    return 0, len(dateline)


def dateline_date(match: re.Match[str]) -> str:
    """The dateline's date as ISO 8601 where it gives a year ("2 April 2024" → "2024-04-02"), else as written."""
    groups = match.groupdict()
    if groups.get("iso") or "month" not in groups:
        return iso_date(match.group("date") or "")
    if not match.group("date"):
        return ""
    year, day = match.group("year"), match.group("day") or match.group("day2")
    if not year:
        return " ".join(match.group("date").split())
    month = _MONTHS[match.group("month").lower()]
    return f"{year}-{month:02d}" + (f"-{int(day):02d}" if day else "")


_PUBLISHED_ON = re.compile(
    r"(?:apparaît en premier sur|est apparu en premier sur|first appeared on|"
    r"was first published on|first published on|publié (?:initialement|d['’]abord) sur)\s+"
    r"(?P<source>[^\n]{2,80}?)\s*\.?\s*$",
    re.I | re.M,
)
_SOURCE_LINE = re.compile(r"^\s*(?:source|publisher|éditeur|par|by)\s*:\s*(?P<source>[^\n]{2,80})$", re.I | re.M)
_FRONT_MATTER = re.compile(r"\A---\s*\n(?P<body>.*?)\n---\s*\n", re.S)
_MD_TITLE = re.compile(r"^#\s+(?P<title>.+?)\s*#*\s*$", re.M)


@dataclass(frozen=True)
class Article:
    id: str
    text: str
    title: str
    date: str = ""
    place: str = ""
    source: str = ""
    path: str = ""
    sha256: str = ""
    author: str = ""
    url: str = ""
    # Where the text proper starts: after a Markdown front matter, which is metadata, not text.
    body_start: int = 0
    # The dateline as written ("Washington, 2 April 2024"), where `date` and `place` were read.
    dateline: str = ""
    # (start, end) of what is not the story: title line, dateline, byline, "read more", footer
    # (qa/boilerplate.py). No passage holds any of it.
    boilerplate: tuple[tuple[int, int], ...] = ()
    # Where the publisher, the author and the dateline are written in the text: (field, start, end).
    # A question about the article itself is answered with a citation of those very characters.
    written: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def article_paths(seeds_dir: Path) -> list[Path]:
    """Every *.txt and *.md under the folder, sorted so builds are reproducible.

    Hidden files and folders (`.git/`, `.originals/`) are not articles, and symbolic links are
    followed neither to files nor to folders: what is indexed is what lies inside the folder."""
    found = []
    for root, dirs, files in os.walk(seeds_dir, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(
            Path(root) / name
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in ARTICLE_SUFFIXES
        )
    return sorted(found)


def load_articles(seeds_dir: Path, max_bytes: int = MAX_ARTICLE_BYTES) -> tuple[list[Article], list[SkippedFile]]:
    """Load every article; files that are links, too large, empty, binary or not text are skipped and reported."""
    articles: list[Article] = []
    skipped: list[SkippedFile] = []
    seen: dict[str, Path] = {}
    for path in article_paths(seeds_dir):
        article_or_reason = read_article(path, max_bytes)
        if isinstance(article_or_reason, str):
            skipped.append(SkippedFile(str(path), article_or_reason))
            log.warning("skipped %s: %s", path, article_or_reason)
            continue
        if article_or_reason.id in seen:
            reason = f"same id as {seen[article_or_reason.id]} (ids are file stems)"
            skipped.append(SkippedFile(str(path), reason))
            log.warning("skipped %s: %s", path, reason)
            continue
        seen[article_or_reason.id] = path
        articles.append(article_or_reason)
    return articles, skipped


def read_article(path: Path, max_bytes: int = MAX_ARTICLE_BYTES) -> Article | str:
    """The article in `path`, or the reason it cannot be one."""
    if path.is_symlink():
        return "symbolic link (not followed: only files inside the seeds folder are indexed)"
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return f"{size:,} bytes; the limit is {max_bytes:,} (QA_MAX_ARTICLE_BYTES)"
        raw = path.read_bytes()
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    problem = content_problem(raw)
    if problem:
        return problem
    text = decoded(raw)
    meta = extract_metadata(text, fallback_title=path.stem)
    return Article(
        id=path.stem,
        text=text,
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        **meta,
    )


def decoded(raw: bytes) -> str:
    """The text of an article file: UTF-16 when it starts with a UTF-16 byte-order mark, else UTF-8."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig")


def content_problem(raw: bytes) -> str:
    """Why these bytes are not an article, or "" when they are one."""
    if not raw.strip():
        return "empty file"
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if not utf16 and b"\x00" in raw[:8192]:
        return "binary file (contains NUL bytes)"
    try:
        text = decoded(raw)
    except UnicodeDecodeError as exc:
        return f"not {'UTF-16' if utf16 else 'UTF-8'} text (invalid byte at position {exc.start})"
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 8 or "\x00" in text[:8192]:
        return "binary file (control characters)"
    if not any(ch.isalnum() for ch in text):
        return "no text"
    return ""


def extract_metadata(text: str, fallback_title: str) -> dict[str, Any]:
    front = front_matter(text)
    match = _FRONT_MATTER.match(text)
    body_start = match.end() if match else 0
    dateline = article_dateline(text, body_start)
    opening = dateline if dateline and not text[body_start : dateline.start()].strip() else None
    title = front.get("title") or markdown_title(text) or title_line(text) or first_sentence(text, opening)
    ranges = boilerplate(text, body_start, title_end(text, body_start), dateline)
    date = front.get("date") or (dateline_date(dateline) if dateline else "")
    date = iso_date(date) or date  # "2024-04-12T08:30:00+02:00" → "2024-04-12"; other wordings stay as written
    place = front.get("place") or front.get("location") or (dateline.group("place") or "" if dateline else "")
    agency = dateline.groupdict().get("agency") or "" if dateline else ""
    source = (front.get("source") or front.get("publisher") or source_in_text(text) or agency).strip()
    author = (front.get("author") or byline_author(text, body_start)).strip()
    written_dateline = dateline.group(0).strip().rstrip("—–-").strip() if dateline else ""
    values = {"source": source, "author": author, "dateline": written_dateline}
    return {
        "title": (title or fallback_title).strip(),
        "date": date.strip(),
        "place": (place.title() if place.isupper() else place).strip(),
        "source": source,
        "author": author,
        "url": front.get("url", "").strip(),
        "body_start": body_start,
        "dateline": written_dateline,
        "boilerplate": ranges,
        "written": where_written(text, values, ranges, dateline.start() if dateline else 0),
    }


def where_written(text: str, values: dict[str, str], ranges: tuple[tuple[int, int], ...], dateline_at: int) -> tuple[tuple[str, int, int], ...]:
    """Where each metadata value is written: in a byline, footer or dateline first, else anywhere."""
    out = []
    for field_name, value in values.items():
        if not value:
            continue
        starts = [text.find(value, s, e) for s, e in ranges] if field_name != "dateline" else [text.find(value, dateline_at)]
        at = next((i for i in starts if i >= 0), text.find(value))
        if at >= 0:
            out.append((field_name, at, at + len(value)))
    return tuple(out)


def title_end(text: str, body_start: int) -> int:
    """Where the title written at the top of the body ends (a `# heading` or a title line standing
    alone); body_start when the body opens with its story."""
    first = next(((s, e) for s, e in lines(text, body_start) if text[s:e].strip()), None)
    if first is None:
        return body_start
    s, e = first
    line = text[s:e].strip()
    return e if _MD_TITLE.fullmatch(line) or title_line(text[s:]) == line else body_start


def front_matter(text: str) -> dict[str, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}
    pairs = (line.split(":", 1) for line in match.group("body").splitlines() if ":" in line)
    return {key.strip().lower(): value.strip().strip("\"'") for key, value in pairs}


def markdown_title(text: str) -> str:
    match = _MD_TITLE.search(text[:2000])
    return match.group("title") if match else ""


def title_line(text: str) -> str:
    """A first line that stands alone, is short and does not end like a sentence."""
    lines = text.lstrip().split("\n")
    first = lines[0].strip()
    stands_alone = len(lines) > 1 and not lines[1].strip()
    if stands_alone and 10 <= len(first) <= 200 and not first.endswith((".", ":", ";")) and not DATE_HEADER.match(first) and not dateline_at(first):
        return first
    return ""


def first_sentence(text: str, header: re.Match[str] | None) -> str:
    body = text[header.end() :] if header else text
    body = body.strip()
    sentence = re.split(r"(?<=[.!?])\s", body, maxsplit=1)[0]
    return sentence if len(sentence) <= 120 else sentence[:117].rsplit(" ", 1)[0] + "…"


def source_in_text(text: str) -> str:
    for pattern in (_PUBLISHED_ON, _SOURCE_LINE, AGENCY_LINE):
        match = pattern.search(text)
        if match:
            return match.group(1 if pattern is AGENCY_LINE else "source").strip()
    return ""


# Letters and digits of any script stay (日本.txt is a fine name); everything else becomes "_".
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.-]+")


def safe_article_name(filename: str) -> str:
    """A file name that can only land directly inside the seeds folder: no folders, no dot-files,
    no odd characters, a .txt or .md suffix. Raises ValueError when nothing usable is left."""
    base = re.split(r"[\\/]", filename or "")[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot or f".{suffix.lower()}" not in ARTICLE_SUFFIXES:
        raise ValueError(f"{base or 'the file'!r} is not a .txt or .md file")
    clean = _UNSAFE_NAME_CHARS.sub("_", unicodedata.normalize("NFC", stem)).strip("._-")[:100]
    if not clean:
        raise ValueError(f"{base!r} has no usable file name")
    return f"{clean}.{suffix.lower()}"


def add_article(seeds_dir: Path | str, filename: str, data: bytes, max_bytes: int = MAX_ARTICLE_BYTES) -> Path:
    """Save an uploaded article into the seeds folder under a sanitised, unused name.

    Raises ValueError with a message for the user when the file is refused."""
    seeds = Path(seeds_dir).resolve()
    name = safe_article_name(filename)
    if len(data) > max_bytes:
        raise ValueError(f"{name} is {len(data):,} bytes; the limit is {max_bytes:,}")
    problem = content_problem(data)
    if problem:
        raise ValueError(f"{name} was refused: {problem}")
    seeds.mkdir(parents=True, exist_ok=True)
    stem, suffix = name.rsplit(".", 1)
    for same in [seeds / name, *sorted(seeds.glob(f"{stem}-*.{suffix}"))]:
        if same.is_file() and not same.is_symlink() and same.read_bytes() == data:
            return same  # the same article again: nothing to add
    target = unused_path(seeds, name)
    write_atomically(target, data)
    return target


def unused_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem-2.suffix`, `-3`... : the first that does not exist. Never
    outside the folder."""
    stem, suffix = name.rsplit(".", 1)
    target, n = folder / name, 1
    while target.exists() or target.is_symlink():
        n += 1
        target = folder / f"{stem}-{n}.{suffix}"
    if target.resolve().parent != folder.resolve():
        raise ValueError(f"{name!r} would be written outside {folder}")
    return target
