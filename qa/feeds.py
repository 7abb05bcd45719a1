"""The feeds the collection's articles came from, remembered for `qa sync`.

One file, `seeds/.originals/feeds.json` (a hidden folder: never indexed, and no upload writes
there), written whole or not at all. For each feed added from a link: its link, the validators
its server sent (ETag, Last-Modified) for the next conditional request, when it was last polled
and what that gave, and its entries: each entry's link, the article it is stored as, and that
page's own validators. Only links this program fetched itself are written here, so an upload can
never claim to be a feed's entry and be replaced by a sync.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qa.errors import SourceError
from qa.files import write_atomically

FEEDS_FILE = "feeds.json"
LOCK_FILE = ".feeds.lock"
ORIGINALS = ".originals"  # the same folder as qa.collection.ORIGINALS


@dataclass(frozen=True)
class Origin:
    """Where one stored article of a feed came from: the feed (with the validators its server sent)
    and the entry's link (with its page's validators, when the page was fetched)."""

    entry: str
    etag: str = ""
    last_modified: str = ""
    feed: str = ""
    feed_etag: str = ""
    feed_last_modified: str = ""


@dataclass(frozen=True)
class Entry:
    """A feed's entry as stored: the article's id and its page's validators."""

    id: str
    etag: str = ""
    last_modified: str = ""


@dataclass(frozen=True)
class Feed:
    url: str
    etag: str = ""
    last_modified: str = ""
    polled: str = ""  # ISO 8601, UTC: when it was last asked for
    result: str = ""  # what that gave, in one line
    ok: bool = True  # False when the last poll failed
    entries: dict[str, Entry] = field(default_factory=dict)  # entry link → stored article

    def conditional_headers(self) -> dict[str, str]:
        return {"If-None-Match": self.etag, "If-Modified-Since": self.last_modified}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def feeds_path(seeds: Path) -> Path:
    return Path(seeds) / ORIGINALS / FEEDS_FILE


def load_feeds(seeds: Path) -> dict[str, Feed]:
    """The remembered feeds by link; none when nothing was ever added from a feed's link."""
    path = feeds_path(seeds)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {f["url"]: _feed(f) for f in raw["feeds"]}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"the feeds' record {path} cannot be read ({type(exc).__name__}); repair or delete it") from None


def _feed(raw: dict[str, Any]) -> Feed:
    entries = {link: Entry(**e) for link, e in raw.get("entries", {}).items()}
    return Feed(**{**{k: v for k, v in raw.items() if k != "entries"}, "entries": entries})


def save_feeds(seeds: Path, feeds: dict[str, Feed]) -> None:
    path = feeds_path(seeds)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"feeds": [dataclasses.asdict(f) for f in sorted(feeds.values(), key=lambda f: f.url)]}
    write_atomically(path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))


@contextlib.contextmanager
def feeds_lock(seeds: Path) -> Iterator[None]:
    """Held while the record is read, changed and written (an add and a sync may run at once)."""
    from filelock import FileLock

    folder = Path(seeds) / ORIGINALS
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / LOCK_FILE)):
        yield


def remember(seeds: Path, stored: Iterable[tuple[Origin, str]], result: str = "") -> None:
    """Record the feeds that the articles just stored came from (origin, article id)."""
    stored = [(o, i) for o, i in stored if o.feed]
    if not stored:
        return
    with feeds_lock(seeds):
        feeds = load_feeds(seeds)
        for url in dict.fromkeys(o.feed for o, _ in stored):
            mine = [(o, i) for o, i in stored if o.feed == url]
            old = feeds.get(url, Feed(url))
            entries = {**old.entries, **{o.entry: Entry(i, o.etag, o.last_modified) for o, i in mine if o.entry}}
            first = mine[0][0]
            said = result or f"read when added: {len(mine)} entr{'y' if len(mine) == 1 else 'ies'}"
            validators = {"etag": first.feed_etag, "last_modified": first.feed_last_modified}
            feeds[url] = dataclasses.replace(old, **validators, polled=now_iso(), result=said, ok=True, entries=entries)
        save_feeds(seeds, feeds)
