"""`qa sync`: the feeds the collection came from, polled again.

Each feed remembered in `seeds/.originals/feeds.json` (qa/feeds.py) is asked for with a
conditional request (If-None-Match, If-Modified-Since). A feed that did not change (304) costs one
request and nothing else. A feed that did is read like `qa add` reads it: its new entries are added
(the same conversion, duplicates and limits), and the articles of its known entries are checked
against their pages (again with conditional requests): a page whose text changed (by content hash)
replaces the stored article under the same id, so the next index update re-embeds it and
citations point into the new text; the version replaced is kept in `.originals/<id>.previous.md`.
A feed that fails keeps its articles and says why. Nothing here touches the index: the caller
updates it when the report says something changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.collection import (
    LINK_SUFFIX,
    MAX_FEED_ARTICLES,
    MAX_FEED_LINKS,
    ORIGINALS,
    Added,
    _Pending,
    article_key,
    entry_pending,
    keep_beside,
    link_name,
    linked_page,
    markdown,
    store,
)
from qa.config import Settings
from qa.convert import Converted, feed_entries
from qa.corpus import article_paths, front_matter
from qa.errors import SourceError
from qa.feeds import Entry, Feed, feeds_lock, load_feeds, now_iso, save_feeds
from qa.fetch import NOT_MODIFIED, Fetched, check_url, fetch, public_url
from qa.files import write_atomically

PREVIOUS_SUFFIX = ".previous.md"


@dataclass(frozen=True)
class Skipped:
    what: str  # an entry's link or title
    why: str


@dataclass(frozen=True)
class FeedSync:
    """What one feed's poll gave."""

    url: str
    status: str  # "not modified", "read" or "failed"
    added: tuple[Added, ...] = ()  # new entries (duplicate_of set: already in the collection)
    updated: tuple[str, ...] = ()  # articles replaced by a newer version of their page
    unchanged: int = 0
    skipped: tuple[Skipped, ...] = ()
    error: str = ""  # why the feed failed; its articles are kept

    def lines(self) -> list[str]:
        if self.status == "failed":
            return [f"{self.url}: failed: {self.error}; its {self.unchanged} article(s) are kept"]
        new = [a for a in self.added if not a.duplicate_of]
        head = f"{self.url}: {self.status}: {len(new)} added, {len(self.updated)} updated, {self.unchanged} unchanged"
        out = [head + (f", {len(self.skipped)} skipped" if self.skipped else "")]
        out += [f"  added {a.id} ({a.title})" for a in new]
        out += [f"  updated {i}" for i in self.updated]
        out += [f"  skipped {s.what}: {s.why}" for s in self.skipped]
        return out


@dataclass(frozen=True)
class SyncReport:
    feeds: tuple[FeedSync, ...]

    @property
    def added(self) -> list[str]:
        return [a.id for f in self.feeds for a in f.added if not a.duplicate_of]

    @property
    def updated(self) -> list[str]:
        return [i for f in self.feeds for i in f.updated]

    @property
    def changed(self) -> bool:
        """Whether the collection changed, so the index needs an update."""
        return bool(self.added or self.updated)

    def summary(self) -> str:
        failed = sum(f.status == "failed" for f in self.feeds)
        unchanged = sum(f.unchanged for f in self.feeds)
        skipped = sum(len(f.skipped) for f in self.feeds)
        return (
            f"{len(self.feeds)} feed(s): {len(self.added)} added, {len(self.updated)} updated, {unchanged} unchanged, "
            f"{skipped} skipped, {failed} failed"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"feeds": [dataclasses.asdict(f) for f in self.feeds], "added": self.added, "updated": self.updated}


def sync_feeds(settings: Settings | None = None, only: Sequence[str] = ()) -> SyncReport:
    """Poll every remembered feed (or those in `only`); the index is left to the caller."""
    settings = settings or Settings.from_env()
    seeds = Path(settings.seeds_dir)
    known = load_feeds(seeds)
    wanted = [public_url(u) for u in only]
    unknown = [u for u in wanted if u not in known]
    if unknown:
        raise SourceError(f"no feed {', '.join(unknown)} was added from a link (see `qa list`); nothing was synced")
    results, notes = [], []
    for url in wanted or sorted(known):
        result, note = sync_feed(known[url], settings)
        results.append(result)
        notes += [note] if note else []
    _record(seeds, notes)  # at once: the record is rewritten whole, and 50 feeds would rewrite it 50 times
    return SyncReport(tuple(results))


def list_feeds(settings: Settings | None = None) -> list[dict[str, Any]]:
    """The remembered feeds: url, last poll, its result, and how many of their articles are stored."""
    settings = settings or Settings.from_env()
    seeds = Path(settings.seeds_dir)
    ids = {p.stem for p in article_paths(seeds)} if seeds.is_dir() else set()
    return [
        {"url": f.url, "polled": f.polled, "result": f.result, "ok": f.ok, "articles": len({e.id for e in f.entries.values()} & ids)}
        for f in sorted(load_feeds(seeds).values(), key=lambda f: f.url)
    ]


@dataclass(frozen=True)
class _Note:
    """A poll that stored nothing, to record: its result, and the validators a 304 may renew."""

    url: str
    result: str
    ok: bool = True
    etag: str = ""
    last_modified: str = ""


def sync_feed(feed: Feed, settings: Settings) -> tuple[FeedSync, _Note | None]:
    """One feed polled: not modified, read (new entries added, known ones checked, recorded at
    once), or failed; a poll that stored nothing comes with the note to record."""
    seeds = Path(settings.seeds_dir)
    stored = _stored(feed, seeds)
    try:
        got = _fetch(feed.url, settings, feed.conditional_headers())
        if got.status == NOT_MODIFIED:
            note = _Note(feed.url, "not modified", True, got.etag, got.last_modified)
            return FeedSync(feed.url, "not modified", unchanged=len(stored)), note
        entries = feed_entries(got.data, got.url, link_name(got.url))
    except SourceError as exc:
        why = _without(str(exc), feed.url)
        return FeedSync(feed.url, "failed", unchanged=len(stored), error=why), _Note(feed.url, f"failed: {why}", ok=False)
    return _read(feed, got, entries, settings), None


def _fetch(url: str, settings: Settings, headers: dict[str, str] | None = None) -> Fetched:
    return fetch(check_url(url), settings.max_article_bytes, settings.fetch_timeout_s, settings.allow_private_urls, headers)


def _stored(feed: Feed, seeds: Path) -> dict[str, Entry]:
    """The feed's entries whose article is still in the collection."""
    ids = {p.stem for p in article_paths(seeds)} if seeds.is_dir() else set()
    return {link: e for link, e in feed.entries.items() if e.id in ids}


def _without(message: str, url: str) -> str:
    return message.removeprefix(f"{url}: ")


@dataclass
class _Poll:
    """What one read of a feed found, before anything is written."""

    new: list[_Pending] = dataclasses.field(default_factory=list)
    replace: list[tuple[str, _Pending]] = dataclasses.field(default_factory=list)  # (article id, its new version)
    kept: dict[str, Entry] = dataclasses.field(default_factory=dict)  # entries known and still right
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    fetched: int = 0  # pages fetched: at most MAX_FEED_LINKS a poll


def _read(feed: Feed, got: Fetched, entries: list[tuple[Converted | None, str]], settings: Settings) -> FeedSync:
    seeds = Path(settings.seeds_dir)
    stored = _stored(feed, seeds)
    poll = _Poll()
    known = [(c, link) for c, link in entries if link and public_url(link) in feed.entries]
    fresh = [(c, link) for c, link in entries if not (link and public_url(link) in feed.entries)]
    for c, link in fresh:  # new entries first: they are what a sync is for
        _take_new(poll, feed.url, c, link, settings)
    for c, link in known:
        entry = stored.get(public_url(link))
        if entry is None:
            poll.skipped.append(Skipped(public_url(link), "removed from the collection; not added again"))
            poll.kept[public_url(link)] = feed.entries[public_url(link)]
        else:
            _check_known(poll, c, public_url(link), entry, seeds, settings)
    return _write(feed, got, poll, seeds)


def _take_new(poll: _Poll, url: str, c: Converted | None, link: str, settings: Settings) -> None:
    if len(poll.new) >= MAX_FEED_ARTICLES:
        poll.skipped.append(Skipped(link or (c.title if c else ""), f"a feed gives at most {MAX_FEED_ARTICLES} articles a poll"))
    elif c is not None:
        poll.new.append(entry_pending(url, link_name(url), c, link))
    elif poll.fetched >= MAX_FEED_LINKS:
        poll.skipped.append(Skipped(link, f"at most {MAX_FEED_LINKS} pages are fetched a poll; taken at a later sync"))
    else:
        poll.fetched += 1
        try:
            poll.new.append(linked_page(link, settings))
        except SourceError as exc:
            poll.skipped.append(Skipped(public_url(link), _without(str(exc), public_url(link))))


def _check_known(poll: _Poll, c: Converted | None, link: str, entry: Entry, seeds: Path, settings: Settings) -> None:
    """A known entry: its text from the feed, or its page asked for again with its validators."""
    path = seeds / f"{entry.id}.md"
    if not path.is_file() or not front_matter(path.read_text(encoding="utf-8")).get("kind"):
        return _keep(poll, link, entry, f"{entry.id} was stored from a file, not from this entry: not replaced")
    now = entry
    if c is not None:
        newer = entry_pending(link, link_name(link), c, link)
    elif poll.fetched >= MAX_FEED_LINKS:
        return _keep(poll, link, entry, f"not checked: at most {MAX_FEED_LINKS} pages are fetched a poll")
    else:
        poll.fetched += 1
        try:
            got = _fetch(link, settings, {"If-None-Match": entry.etag, "If-Modified-Since": entry.last_modified})
            now = Entry(entry.id, got.etag or entry.etag, got.last_modified or entry.last_modified)
            if got.status == NOT_MODIFIED:
                poll.kept[link] = now
                poll.unchanged += 1
                return None
            newer = linked_page(link, settings, got)
        except SourceError as exc:
            return _keep(poll, link, now, f"the stored version is kept: {_without(str(exc), link)}")
    if article_key(newer.text) == article_key(path.read_text(encoding="utf-8")):
        poll.kept[link] = now
        poll.unchanged += 1
    else:
        poll.replace.append((entry.id, newer))
    return None


def _keep(poll: _Poll, link: str, entry: Entry, why: str) -> None:
    poll.kept[link] = entry
    poll.skipped.append(Skipped(link, why))


def _write(feed: Feed, got: Fetched, poll: _Poll, seeds: Path) -> FeedSync:
    """Store the new entries, replace the changed articles and record the poll, under the feeds' lock."""
    with feeds_lock(seeds):
        added = store(poll.new, seeds) if poll.new else []  # store reads the whole collection, for duplicates
        for article_id, newer in poll.replace:
            replace_article(seeds, article_id, newer)
        entries = dict(poll.kept)
        for p, a in zip(poll.new, added, strict=True):
            if p.origin is not None:
                entries[p.origin.entry] = Entry(a.id, p.origin.etag, p.origin.last_modified)
        for article_id, p in poll.replace:
            if p.origin is not None:
                entries[p.origin.entry] = Entry(article_id, p.origin.etag, p.origin.last_modified)
        unchanged = poll.unchanged + sum(bool(a.duplicate_of) for a in added)
        result = FeedSync(feed.url, "read", tuple(added), tuple(i for i, _ in poll.replace), unchanged, tuple(poll.skipped))
        feeds = load_feeds(seeds)
        said = result.lines()[0].removeprefix(f"{feed.url}: ")
        old = feeds.get(feed.url, feed)
        feeds[feed.url] = dataclasses.replace(
            old, etag=got.etag, last_modified=got.last_modified, polled=now_iso(), result=said, ok=True, entries=entries
        )
        save_feeds(seeds, feeds)
    return result


def replace_article(seeds: Path, article_id: str, newer: _Pending) -> None:
    """The article stored as `article_id` replaced by a newer version, under the same id; the
    version replaced is kept in the originals folder, and so are the links it was fetched from."""
    path = seeds / f"{article_id}.md"
    old = path.read_text(encoding="utf-8")
    originals = seeds / ORIGINALS
    originals.mkdir(exist_ok=True)
    write_atomically(originals / f"{article_id}{PREVIOUS_SUFFIX}", old.encode("utf-8"))
    if newer.converted is None:  # never: feeds' entries are converted
        raise SourceError(f"{article_id}: the new version is not an article")
    added = front_matter(old).get("added") or now_iso()
    write_atomically(path, markdown(newer.converted, newer.original_name, article_key(newer.text), added=added).encode("utf-8"))
    links_file = originals / f"{article_id}{LINK_SUFFIX}"
    old_links = links_file.read_text(encoding="utf-8").split() if links_file.is_file() else []
    keep_beside(originals, article_id, dataclasses.replace(newer, links=tuple(dict.fromkeys([*old_links, *newer.links]))))


def _record(seeds: Path, notes: list[_Note]) -> None:
    """The polls that stored nothing: their time and result, and the validators a 304 may renew."""
    if not notes:
        return
    with feeds_lock(seeds):
        feeds, now = load_feeds(seeds), now_iso()
        for n in notes:
            old = feeds.get(n.url, Feed(n.url))
            validators = {"etag": n.etag or old.etag, "last_modified": n.last_modified or old.last_modified}
            feeds[n.url] = dataclasses.replace(old, **validators, polled=now, result=n.result, ok=n.ok)
        save_feeds(seeds, feeds)
