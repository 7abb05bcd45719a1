"""The collection: add web pages, PDFs, feeds, links and text files as articles; list; remove.

What is added is stored in the seeds folder as a Markdown file whose front matter holds the
metadata (title, source, author, date, url, the original's name, a content hash), so that the
stored text is what passages and citation offsets refer to. The original is kept beside it in
`seeds/.originals/` (a hidden folder: never indexed). `.txt` and `.md` files are stored as they are.
An add converts every input first and writes only when all of them could be read: a failed add
changes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qa.config import Settings
from qa.convert import Converted, feed_entries, from_html, from_pdf, kind_of
from qa.corpus import (
    ARTICLE_SUFFIXES,
    article_paths,
    content_problem,
    decoded,
    front_matter,
    load_articles,
    safe_article_name,
    unused_path,
)
from qa.errors import SourceError
from qa.feeds import Origin, remember
from qa.fetch import Fetched, check_url, fetch, public_url
from qa.files import write_atomically

ORIGINALS = ".originals"
# A fetched article's links (as asked, after redirects) are kept beside its original, where no
# upload can write, so that only links this program fetched itself tell duplicates apart.
LINK_SUFFIX = ".links.txt"  # no original is saved under it: an original keeps one suffix
# One feed gives at most this many articles, and fetches at most MAX_FEED_LINKS linked pages of
# them: a feed of a thousand links is a crawl.
MAX_FEED_ARTICLES = 200
MAX_FEED_LINKS = 50


@dataclass(frozen=True)
class Added:
    """What became of one article of an input."""

    input: str
    id: str
    title: str
    path: str = ""
    duplicate_of: str = ""  # the existing article with the same link or text, when nothing was added
    note: str = ""  # what else the user should know (a feed cut short, entries skipped)

    def summary(self) -> str:
        if self.duplicate_of:
            line = f"{self.input}: already in the collection as {self.duplicate_of} ({self.title})"
        else:
            line = f"{self.input}: added {self.id} ({self.title})"
        return f"{line}\n  note: {self.note}" if self.note else line


@dataclass(frozen=True)
class _Pending:
    input: str
    original_name: str
    original: bytes
    converted: Converted | None  # None: a .txt or .md file stored as it is
    text: str  # the text whose hash tells duplicates apart
    links: tuple[str, ...] = ()  # the links fetched for it (as asked, after redirects), none for files
    note: str = ""
    origin: Origin | None = None  # the feed entry it came from (remembered for `qa sync`)


def content_key(text: str) -> str:
    """The same article, whitespace and case aside, has the same key."""
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def article_key(text: str) -> str:
    """The content key of an article as stored or as uploaded: its front matter and leading
    Markdown heading aside (they are metadata), so the same text stored twice has one key."""
    match = re.match(r"\A---\s*\n.*?\n---\s*\n", text, re.S)
    body = text[match.end() :] if match else text
    return content_key(re.sub(r"\A\s*#[^\n]*\n", "", body))


def same_link(url: str) -> str:
    return public_url(url).split("#", 1)[0].rstrip("/").lower()


def add(inputs: Sequence[str | Path], settings: Settings | None = None) -> list[Added]:
    """Add files and links to the seeds folder; returns one record per article found.

    Raises SourceError, writing nothing, when any input cannot be read."""
    settings = settings or Settings.from_env()
    pending: list[_Pending] = []
    problems: list[str] = []
    for item in inputs:
        try:
            pending.extend(read_input(str(item), settings))
        except SourceError as exc:
            problems.append(str(exc))
    if problems:
        raise SourceError("nothing was added: " + "; ".join(problems))
    added = store(pending, Path(settings.seeds_dir))
    remember(Path(settings.seeds_dir), [(p.origin, a.id) for p, a in zip(pending, added, strict=True) if p.origin])
    return added


def read_input(item: str, settings: Settings) -> list[_Pending]:
    """One input (a path or an http(s) link) as the articles it holds."""
    limit = settings.max_article_bytes
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", item):
        got = fetch(check_url(item), limit, settings.fetch_timeout_s, settings.allow_private_urls)
        links = (public_url(item), got.url)
        pending = from_bytes(public_url(item), link_name(got.url), got.data, got.content_type, got.url, settings, links)
        return [from_feed(p, public_url(item), got) for p in pending]
    path = Path(item)
    if not path.is_file():
        raise SourceError(f"{item}: no such file")
    size = path.stat().st_size
    if size > limit:
        raise SourceError(f"{item}: {size:,} bytes; the limit is {limit:,} (QA_MAX_ARTICLE_BYTES)")
    return from_bytes(item, path.name, path.read_bytes(), "", "", settings)


def from_feed(p: _Pending, feed: str, got: Fetched) -> _Pending:
    """An entry of a feed fetched from a link, with the feed's link and validators."""
    if p.origin is None:
        return p
    origin = dataclasses.replace(p.origin, feed=feed, feed_etag=got.etag, feed_last_modified=got.last_modified)
    return dataclasses.replace(p, origin=origin)


def link_name(url: str) -> str:
    """A file name for what a link gave: the last part of its path (never its query or fragment,
    which a link's author chooses freely: `#.txt` must not make a page a text article)."""
    return Path(urlsplit(url).path.rstrip("/")).name or "page.html"


def from_bytes(
    item: str, name: str, data: bytes, content_type: str, url: str, settings: Settings, links: tuple[str, ...] = ()
) -> list[_Pending]:
    """The articles in one input's bytes; `links`: those fetched for it, when it was a link (a
    feed's entries are told apart by their text, not by the feed's link)."""
    kind = kind_of(name, data, content_type)
    if kind == "pdf":
        c = with_public_url(from_pdf(data, name, max_bytes=settings.max_article_bytes))
        return [_Pending(item, name, data, c, c.text, links)]
    if kind == "html":
        c = with_public_url(from_html(data, url, name))
        return [_Pending(item, name, data, c, c.text, links)]
    if kind == "feed":
        return feed_articles(item, name, data, url, settings)
    if f".{name.rsplit('.', 1)[-1].lower()}" not in ARTICLE_SUFFIXES:
        raise SourceError(f"{item}: not a web page, PDF, feed or .txt/.md article")
    problem = content_problem(data)
    if problem:
        raise SourceError(f"{item}: {problem}")
    return [_Pending(item, name, data, None, decoded(data), links)]


def with_public_url(c: Converted) -> Converted:
    return dataclasses.replace(c, url=public_url(c.url)) if c.url else c


def feed_articles(item: str, name: str, data: bytes, url: str, settings: Settings) -> list[_Pending]:
    """A feed's articles: entries that carry their text, and the pages of those that only link to
    it, up to MAX_FEED_ARTICLES and MAX_FEED_LINKS; an entry whose page cannot be had is skipped,
    and the first article's note says what was left out and why."""
    entries = feed_entries(data, url, name)
    out: list[_Pending] = []
    fetched, problems, unfetched = 0, [], 0
    for converted, link in entries:
        if len(out) >= MAX_FEED_ARTICLES:
            break
        if converted is not None:
            out.append(entry_pending(item, name, converted, link))
        elif fetched >= MAX_FEED_LINKS:
            unfetched += 1
        else:
            fetched += 1
            try:
                out.append(linked_page(link, settings))
            except SourceError as exc:
                problems.append(str(exc))
    if not out:
        raise SourceError(f"{item}: no entry of the feed could be read" + (f" ({problems[0]})" if problems else ""))
    note = feed_note(len(entries), len(out), unfetched, problems)
    return [dataclasses.replace(out[0], note=note), *out[1:]] if note else out


def entry_pending(item: str, name: str, converted: Converted, link: str) -> _Pending:
    """A feed entry that carries its article's text."""
    c = with_public_url(converted)
    origin = Origin(public_url(link)) if link else None
    return _Pending(f"{item} → {c.title}", name, b"", c, c.text, origin=origin)


def linked_page(link: str, settings: Settings, got: Fetched | None = None) -> _Pending:
    """A feed entry's page, fetched from its link (or as `got` already fetched it)."""
    got = got or fetch(check_url(link), settings.max_article_bytes, settings.fetch_timeout_s, settings.allow_private_urls)
    page = with_public_url(from_html(got.data, got.url, public_url(link)))
    origin = Origin(public_url(link), got.etag, got.last_modified)
    return _Pending(public_url(link), link_name(got.url), got.data, page, page.text, (public_url(link), got.url), origin=origin)


def feed_note(entries: int, kept: int, unfetched: int, problems: list[str]) -> str:
    parts = []
    if kept + len(problems) + unfetched < entries or unfetched:
        parts.append(
            f"the feed has {entries:,} entries and {kept:,} were taken: a feed gives at most "
            f"{MAX_FEED_ARTICLES} articles, and at most {MAX_FEED_LINKS} of them fetched from their links"
        )
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        parts.append(f"{len(problems)} entr{'y' if len(problems) == 1 else 'ies'} skipped: {shown}")
    return "; ".join(parts)


def existing_keys(seeds: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The articles already in the folder by content key and by link."""
    articles, _ = load_articles(seeds)
    # Computed from the stored text, never taken from its front matter: an upload could claim any.
    by_text = {article_key(a.text): a.id for a in articles}
    ids = {a.id for a in articles}
    by_link = {}
    for record in (seeds / ORIGINALS).glob(f"*{LINK_SUFFIX}") if (seeds / ORIGINALS).is_dir() else ():
        stem = record.name.removesuffix(LINK_SUFFIX)
        if stem in ids:
            for link in record.read_text(encoding="utf-8").split():
                by_link[same_link(link)] = stem
    return by_text, by_link


def store(pending: list[_Pending], seeds: Path) -> list[Added]:
    seeds.mkdir(parents=True, exist_ok=True)
    by_text, by_link = existing_keys(seeds)
    results = []
    for p in pending:
        c = p.converted
        key = article_key(p.text)
        twin = by_text.get(key) or next((by_link[same_link(u)] for u in p.links if same_link(u) in by_link), None)
        title = c.title if c is not None else p.original_name
        if twin:
            results.append(Added(p.input, twin, title, duplicate_of=twin, note=p.note))
            continue
        if c is None:
            target = _unused(seeds, safe_article_name(p.original_name))
            write_atomically(target, p.original)
        else:
            target = _unused(seeds, f"{slug(c.title)}.md")
            write_atomically(target, markdown(c, p.original_name, key).encode("utf-8"))
        keep_beside(seeds / ORIGINALS, target.stem, p)
        by_text[key] = target.stem
        for link in p.links:
            by_link[same_link(link)] = target.stem
        results.append(Added(p.input, target.stem, title, str(target), note=p.note))
    return results


def keep_beside(originals: Path, stem: str, p: _Pending) -> None:
    """Keep what the stored article came from in the originals folder: the converted file (a page,
    a PDF) and the links fetched for it."""
    c = p.converted
    if c is not None and p.original:
        originals.mkdir(exist_ok=True)
        suffix = Path(p.original_name).suffix.lower() or {"pdf": ".pdf", "html": ".html"}.get(c.kind, ".bin")
        write_atomically(originals / f"{stem}{suffix}", p.original)
    if p.links:
        originals.mkdir(exist_ok=True)
        write_atomically(originals / f"{stem}{LINK_SUFFIX}", "\n".join(p.links).encode("utf-8"))


def markdown(c: Converted, original_name: str, key: str, added: str = "") -> str:
    """The stored article: front matter, the title as a heading, then the text. `added`: when the
    article was first added, for one replaced by a newer version of its page (which is then `updated`)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fields = {
        "title": c.title,
        "source": c.source,
        "author": c.author,
        "date": c.date,
        "url": c.url,
        "original": original_name,
        "kind": c.kind,
        "sha256": key,
        "added": added or now,
        "updated": now if added else "",
    }
    lines = [f"{k}: {' '.join(str(v).split())}" for k, v in fields.items() if v]
    return "---\n" + "\n".join(lines) + "\n---\n\n" + f"# {' '.join(c.title.split())}\n\n{c.text.strip()}\n"


def slug(title: str) -> str:
    """A file name from a title: ASCII letters and digits joined by hyphens, at most 60 characters."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", ascii_title)
    out = ""
    for w in words:
        if len(out) + len(w) + 1 > 60:
            break
        out = f"{out}-{w}" if out else w
    return out or "article"


def _unused(seeds: Path, name: str) -> Path:
    try:
        return unused_path(seeds, name)
    except ValueError as exc:
        raise SourceError(str(exc)) from None


def list_articles(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every article in the seeds folder with its metadata and, when indexed, its passage count;
    newest first by date."""
    settings = settings or Settings.from_env()
    articles, _ = load_articles(Path(settings.seeds_dir), settings.max_article_bytes)
    counts = indexed_passages(Path(settings.index_dir))
    rows = []
    for a in articles:
        front = front_matter(a.text)
        added = front.get("added") or datetime.fromtimestamp(Path(a.path).stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
        rows.append(
            {
                "id": a.id,
                "title": a.title,
                "source": a.source,
                "author": a.author,
                "date": a.date,
                "url": a.url,
                "passages": counts.get(a.id),
                "added": added,
                "path": a.path,
            }
        )
    return sorted(rows, key=lambda r: (r["date"] or "", r["added"]), reverse=True)


def indexed_passages(index_dir: Path) -> dict[str, int]:
    """Passages per article in the index in force; empty when there is no usable index."""
    from qa.errors import IndexUnusableError
    from qa.store import ARTICLES_FILE, current_version, read_manifest

    try:
        read_manifest(index_dir)
        records = json.loads((current_version(index_dir) / ARTICLES_FILE).read_text(encoding="utf-8"))
        return {r["id"]: int(r.get("passages", 0)) for r in records}
    except (IndexUnusableError, OSError, ValueError, KeyError, TypeError):
        return {}


def remove(ids: Sequence[str], settings: Settings | None = None) -> list[str]:
    """Remove articles (their stored file and original) from the seeds folder; they leave the index
    on its next update. Raises SourceError, removing nothing, when an id is unknown."""
    settings = settings or Settings.from_env()
    seeds = Path(settings.seeds_dir)
    paths: dict[str, list[Path]] = {}
    for p in article_paths(seeds):
        paths.setdefault(p.stem, []).append(p)
    unknown = [i for i in ids if i not in paths]
    if unknown:
        raise SourceError(f"no article {', '.join(unknown)} in {seeds} (see `qa list`); nothing was removed")
    for i in dict.fromkeys(ids):
        for p in paths[i]:
            p.unlink()
        for original in (seeds / ORIGINALS).glob(f"{i}.*") if (seeds / ORIGINALS).is_dir() else ():
            original.unlink()
    return list(dict.fromkeys(ids))
