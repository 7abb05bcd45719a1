"""`qa serve --sync-every 30m`: the feeds polled in the background, as `qa sync` polls them.

One daemon thread per server: it polls at start, then every interval; when the collection changed
it updates the index through the Library, which loads the new index whole and then switches to it,
so questions are answered from the previous index meanwhile and never wait for a poll. A poll that
fails is logged and tried again at the next interval.
"""

from __future__ import annotations

import logging
import threading

import qa
from ui.library import Library, UpdateFailed

log = logging.getLogger(__name__)
BUSY = "An update is already running"  # the start of Library.rebuild's answer when one is


def start_syncing(library: Library, every_s: float) -> threading.Event:
    """Poll the feeds now and every `every_s` seconds, in a daemon thread; set the event returned
    to stop it."""
    stop = threading.Event()
    threading.Thread(target=_loop, args=(library, every_s, stop), name="qa-sync-feeds", daemon=True).start()
    return stop


def _loop(library: Library, every_s: float, stop: threading.Event) -> None:
    unindexed = False  # changes stored that the index does not hold yet (an update was running)
    while not stop.is_set():
        unindexed = sync_once(library, unindexed)
        stop.wait(every_s)


def sync_once(library: Library, unindexed: bool = False) -> bool:
    """One poll of every feed, then the index update it calls for; whether changes stay unindexed."""
    try:
        report = qa.sync_feeds(library.settings)
    except Exception as exc:  # a damaged feeds record, a full disk: said, and tried again later
        log.warning("the feeds could not be synced: %s", " ".join(str(exc).split()))
        return unindexed
    for feed in report.feeds:
        if feed.status == "failed":
            log.warning("feed %s failed; its articles are kept: %s", feed.url, feed.error)
    print(f"* feeds synced: {report.summary()}", flush=True)
    if not (report.changed or unindexed):
        return False
    try:
        status = library.rebuild()
    except UpdateFailed as exc:
        log.warning("%s", exc)
        return True
    print(f"* {status}", flush=True)
    return status.startswith(BUSY)
