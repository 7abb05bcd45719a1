"""Settings → the server's state: the index in use (answering, following switches made elsewhere,
rebuilding), the collection's folders, and what a web user may read of them.

One Library per server, shared by the chat's sessions and the JSON API; only `qa`'s public API is
used. Messages for web users name the server's folders by their role, never by their path, and
give no advice that only the server's owner could follow (a `qa` command, an option).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import qa
from qa.corpus import article_paths, read_article

log = logging.getLogger(__name__)

# Answers computed at once: one per core. More only makes the ONNX Runtime threads of concurrent
# answers compete for the same cores (bench/load.py measures it).
ANSWER_SLOTS = max(1, os.cpu_count() or 1)
# How often questions check whether another process switched the index folder to a new build.
SWITCH_CHECK_S = 2.0


class UpdateFailed(Exception):
    """The index could not be updated; the previous one still answers. The message is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The update failed and the previous index is still serving: {reason}")
        self.reason = reason


class Library:
    """The loaded index, shared by every session; swapped whole when a rebuild completes."""

    def __init__(self, settings: qa.Settings, retriever: qa.Retriever | None = None) -> None:
        self.settings = settings
        self.retriever = retriever or qa.Retriever.load(settings.index_dir, settings)
        self._build_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(ANSWER_SLOTS)
        self._follow_lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._collection: tuple[Any, list[dict[str, Any]]] = (None, [])

    def answer(self, question: object, history: list[str] | None = None, filters: qa.Filters | None = None) -> qa.Answer:
        """qa.answer on the index in force, at most ANSWER_SLOTS at a time; `filters` ask within
        chosen articles, a source or dates."""
        self.follow_switches()
        with self._slots:
            return qa.answer(question, self.retriever, history=history or (), filters=filters)  # type: ignore[arg-type]

    def search(self, query: object, k: int, filters: qa.Filters | None = None) -> list[qa.Hit]:
        self.follow_switches()
        with self._slots:
            return self.retriever.search(query, k=k, filters=filters)  # type: ignore[arg-type]

    def follow_switches(self) -> None:
        """Servers that share an index folder each follow a build made elsewhere (another server,
        `qa index --cluster` on a build machine): at most every few seconds, a question checks the
        folder's pointer, and a switch is loaded in the background while the old index answers."""
        now = time.monotonic()
        if now - self._checked_at < SWITCH_CHECK_S or not self._follow_lock.acquire(blocking=False):
            return
        self._checked_at = now
        if self.retriever.is_current():
            self._follow_lock.release()
            return
        threading.Thread(target=self._load_switched, name="qa-follow-index", daemon=True).start()

    def _load_switched(self) -> None:
        try:
            self.retriever = qa.Retriever.load(self.settings.index_dir, self.settings)
            log.info("now answering from the index built %s", self.retriever.manifest.get("built_at", "?"))
        except qa.QAError as exc:
            log.warning("the index in %s changed but cannot be loaded; still answering from the previous one: %s", self.settings.index_dir, exc)
        finally:
            self._follow_lock.release()

    def articles(self) -> list[dict[str, Any]]:
        return list(self.retriever.articles.values())

    def header(self) -> str:
        """What the chat answers from, in words: the index in force, and what is waiting for an update."""
        self.follow_switches()
        m = self.retriever.manifest
        counts = m.get("counts", {})
        waiting = len({a["id"] for a in self.collection()} ^ set(self.retriever.articles))
        pending = f" · {waiting} change(s) not in the index yet" if waiting else ""
        return f"**{counts.get('articles', 0)} articles · {counts.get('passages', 0)} passages**{pending} · index updated {when(m.get('built_at', ''))}"

    def collection(self) -> list[dict[str, Any]]:
        """The collection as it is now (the seeds folder, whoever changed it: this server, another
        one, the command), newest first by date added; read again only when the folder changed."""
        key = self.version()
        if self._collection[0] != key:
            self._collection = (key, sorted(qa.list_articles(self.settings), key=lambda a: a.get("added") or "", reverse=True))
        return self._collection[1]

    def version(self) -> tuple[Any, ...]:
        """What changes when the collection or the index in force changes: cheap (names, sizes and
        times of the files), for the pages that check every few seconds whether to refresh."""
        try:
            files = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in article_paths(Path(self.settings.seeds_dir)))
        except OSError:
            files = ()
        return files, self.retriever.manifest.get("built_at", "")

    def read_article(self, doc_id: str) -> tuple[dict[str, Any], str, bool] | None:
        """An indexed article's record and text, and whether the text is the one indexed (its
        offsets, the citations', fit it); None when the index has no such article or its file is gone."""
        record = self.retriever.articles.get(doc_id)
        if record is None or not record.get("path"):
            return None
        article = read_article(Path(record["path"]), self.settings.max_article_bytes)
        if isinstance(article, str):
            return None
        return record, article.text, article.sha256 == record.get("sha256")

    def rebuild(self, progress: Any = None) -> str:
        """Update the index from the seeds folder and answer from the new one; returns the status.
        Raises UpdateFailed when the build (or loading it) fails: the API answers differently then."""
        if not self._build_lock.acquire(blocking=False):
            return "An update is already running; the chat keeps answering from the current index."
        try:

            def step(done: int, total: int) -> None:
                if progress is not None and total:
                    progress(done / total, desc=f"embedding {done}/{total}")

            report = qa.build_index(self.settings.seeds_dir, self.settings.index_dir, self.settings, progress=step)
            if report.written:
                # Load completely, then swap: sessions in flight keep the retriever they started with.
                self.retriever = qa.Retriever.load(self.settings.index_dir, self.settings)
            skipped = "".join(f"\n- skipped {Path(s.path).name}: {public_message(s.reason, self.settings)}" for s in report.skipped)
            return f"Index updated: {report.summary()}.{skipped}"
        except (qa.QAError, OSError) as exc:
            # A full disk or a read-only folder comes as IndexWriteError, or as a bare OSError from
            # what qa does not wrap; either way the user gets one line, the log the details.
            log.warning("the index update failed: %s", exc)
            reason = public_message(str(exc), self.settings) if isinstance(exc, qa.QAError) else exc.strerror or type(exc).__name__
            raise UpdateFailed(" ".join(reason.split())) from exc
        finally:
            self._build_lock.release()

    def update_status(self, progress: Any = None) -> str:
        """rebuild() as the chat shows it: a failure is one more status line."""
        try:
            return self.rebuild(progress)
        except UpdateFailed as exc:
            return str(exc)


def when(iso: str) -> str:
    """An ISO time as a person reads it: "2024-04-10 14:03 UTC"."""
    return iso[:16].replace("T", " ") + (" UTC" if iso.endswith(("+00:00", "Z")) else "") if iso else "never"


def is_web_link(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def add_files(library: Library, inputs: list[str]) -> tuple[list[str], int]:
    """Add uploaded files or links to the collection, each on its own: one status line per article
    (or per refusal), and how many were added. A file is named by its name only: its path is a
    temporary one on the server, of no use to the user and not theirs to know."""
    lines, added = [], 0
    for item in inputs:
        shown = item if is_web_link(item) else Path(item).name
        try:
            for a in qa.add([item], library.settings):
                title = stored_title(a, library.settings)
                if a.duplicate_of:
                    lines.append(f"- {shown}: already in the collection (“{title}”)")
                else:
                    lines.append(f"- added {shown}: “{title}”" if a.input == item else f"- added “{title}” from {shown}")
                    added += 1
        except qa.SourceError as exc:
            # SourceError messages start with the item as given (after "nothing was added: ").
            reason = str(exc).removeprefix("nothing was added: ").replace(item, shown)
            lines.append(f"- refused {shown}: {public_message(reason, library.settings).removeprefix(f'{shown}: ')}")
        except OSError as exc:
            lines.append(f"- refused {shown}: {exc.strerror or type(exc).__name__}")
    return lines, added


def stored_title(added: qa.Added, settings: qa.Settings) -> str:
    """The title an added article has in the collection (and the chat), as its file is read."""
    article = read_article(Path(added.path), settings.max_article_bytes) if added.path else None
    return article.title if isinstance(article, qa.Article) else added.title


def public_message(message: str, settings: qa.Settings) -> str:
    """A message of qa's as a web user may read it: the server's folders named by their role, not
    their paths, and no advice to run a `qa` command or pass an option, which only its owner can."""
    roles = {settings.seeds_dir: "the collection", settings.index_dir: "the index folder", upload_folder(): "the upload folder"}
    paths = {str(form): role for folder, role in roles.items() for form in (Path(folder), Path(folder).resolve()) if form.is_absolute()}
    for path in sorted(paths, key=len, reverse=True):  # the longest first: one folder may hold another
        message = message.replace(path, paths[path])
    message = re.sub(r" \([^()]*(?:`qa |--[a-z])[^()]*\)", "", message)
    return re.sub(r"[:;,] [^:;,]*(?:`qa |--[a-z])[^;]*", "", message)


def upload_folder() -> Path:
    """Where Gradio keeps what is uploaded to it: serve()'s own GRADIO_TEMP_DIR, else Gradio's default."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


def uploaded_here(path: str, folder: Path) -> bool:
    """Whether `path` lies inside the upload folder, links resolved: only such files arrived through
    this server's upload route, and only they may be read as uploads, and deleted."""
    try:
        return Path(path).resolve().is_relative_to(folder)
    except (OSError, ValueError):
        return False


def trim_folder(folder: Path, budget_bytes: int) -> None:
    """Delete the oldest files under `folder` until what is left fits the budget."""
    files = [(p.stat().st_mtime, p.stat().st_size, p) for p in folder.rglob("*") if p.is_file()]
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= budget_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
