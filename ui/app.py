"""The web chat: ask the articles, read the cited passages, manage the collection.

Only `qa`'s public API is used here. Messages are HTML built with markupsafe: every piece of
article or user text is escaped by `_text`, so it is shown exactly as written and never run, and
Gradio's Chatbot renders them as sanitised HTML with Markdown and LaTeX switched off (Markdown
would read an article's `*`, `_`, `#` or `$$` as formatting).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from an offline tool
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr
from markupsafe import Markup, escape

import qa

log = logging.getLogger(__name__)

EXAMPLES = [
    "Combien Microsoft va-t-il investir au Japon ?",
    "How much will Amazon Web Services invest in Japan, and by when?",
    "Quelles entreprises japonaises recevront des GPU de NVIDIA ?",
    "Who is the president of Microsoft quoted in the announcement?",
]
SESSION_COOKIE = "qa_session"
# Answers computed at once: one per core. More only makes the ONNX Runtime threads of concurrent
# answers compete for the same cores (bench/load.py measures it).
ANSWER_SLOTS = max(1, os.cpu_count() or 1)
# How often questions check whether another process switched the index folder to a new build.
SWITCH_CHECK_S = 2.0
INTERNAL_ERROR = "Sorry: something went wrong on the server while answering; the server log has the details."


def _text(s: str) -> Markup:
    """User or article text as HTML that shows exactly these characters: escaped, line breaks kept."""
    return Markup("<br>").join(escape(line) for line in s.split("\n"))


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is this machine only. Parsed, not compared by its start: a
    name such as "localhost-nas.lan" or "127.example.com" is another machine."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# Failed logins a client address may make within FAILURE_WINDOW_S; then it is refused for
# LOCKOUT_S, even with the right password: a guesser gets about 10 tries per 20 minutes.
MAX_FAILURES = 10
FAILURE_WINDOW_S = 300.0
LOCKOUT_S = 900.0
THROTTLE_CLIENTS = 10_000  # addresses remembered at most: a flood of them cannot grow memory


class TooManyFailures(Exception):
    """A client that failed to log in too often; `retry_after` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(f"too many failed logins from this address: try again in {minutes} minute(s)")
        self.retry_after = retry_after


@dataclass
class LoginThrottle:
    """Failed logins per client address, and the addresses refused for a while."""

    failures: dict[str, list[float]] = field(default_factory=dict)
    locked_until: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, client: str, now: float | None = None) -> None:
        """Raise TooManyFailures while `client` is refused."""
        now = time.monotonic() if now is None else now
        with self.lock:
            until = self.locked_until.get(client, 0.0)
        if until > now:
            raise TooManyFailures(math.ceil(until - now))

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self.lock:
            recent = [t for t in self.failures.get(client, []) if now - t < FAILURE_WINDOW_S] + [now]
            if len(recent) >= MAX_FAILURES:
                self.locked_until[client] = now + LOCKOUT_S
                recent = []
            self.failures[client] = recent
            if len(self.failures) + len(self.locked_until) > THROTTLE_CLIENTS:
                self._forget(now)

    def succeeded(self, client: str) -> None:
        with self.lock:
            self.failures.pop(client, None)

    def _forget(self, now: float) -> None:
        """Drop what no longer counts; if that is not enough, the oldest failures (call with the lock held)."""
        self.locked_until = {c: t for c, t in self.locked_until.items() if t > now}
        self.failures = {c: ts for c, ts in self.failures.items() if ts and now - ts[-1] < FAILURE_WINDOW_S}
        if len(self.failures) > THROTTLE_CLIENTS // 2:
            newest = sorted(self.failures.items(), key=lambda item: item[1][-1])[-THROTTLE_CLIENTS // 2 :]
            self.failures = dict(newest)


@dataclass
class Access:
    """Who may write (upload, rebuild): anyone on loopback; beyond it, only after a login.

    A login gives the browser an HTTP-only session cookie, which Gradio's own upload route and
    the JSON API's writes require; programs may send HTTP Basic credentials instead. Failed
    logins are counted per client address (`throttle`)."""

    remote: bool
    user: str
    password: str
    sessions: set[str] = field(default_factory=set)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @classmethod
    def for_host(cls, host: str, env: dict[str, str] | None = None, public: bool = False) -> Access:
        """`public`: reached beyond this machine (through a reverse proxy, say) although it listens
        on loopback, so writes need a login as beyond loopback."""
        env = os.environ if env is None else env
        return cls(public or not is_loopback(host), env.get("QA_ADMIN_USER", ""), env.get("QA_ADMIN_PASSWORD", ""))

    @property
    def login_possible(self) -> bool:
        return bool(self.user and self.password)

    def check(self, user: str, password: str) -> bool:
        if not self.login_possible:
            return False
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_pass = hmac.compare_digest(password.encode(), self.password.encode())
        return ok_user and ok_pass

    def attempt(self, client: str, user: str, password: str) -> bool:
        """Check credentials sent by `client`, counting its failures; raises TooManyFailures while
        it is refused, whatever it sends."""
        self.throttle.check(client)
        if self.check(user, password):
            self.throttle.succeeded(client)
            return True
        self.throttle.failed(client)
        return False

    def may_write(self, logged_in: bool) -> bool:
        return not self.remote or (self.login_possible and logged_in)

    def new_session(self) -> str:
        if len(self.sessions) > 10_000:  # bounded: a flood of logins cannot grow memory
            self.sessions.clear()
        token = secrets.token_urlsafe(32)
        self.sessions.add(token)
        return token

    def has_session(self, cookies: dict[str, str]) -> bool:
        token = cookies.get(SESSION_COOKIE, "")
        return bool(token) and any(hmac.compare_digest(token, t) for t in list(self.sessions))

    def request_may_write(self, cookies: dict[str, str], authorization: str = "", client: str = "") -> bool:
        """Whether an HTTP request may write: on loopback always; beyond it with a session cookie
        from a login, or with HTTP Basic credentials (raises TooManyFailures for a client that
        failed too often)."""
        if not self.remote:
            return True
        if not self.login_possible:
            return False
        return self.has_session(cookies) or self._basic_ok(authorization, client)

    def _basic_ok(self, authorization: str, client: str) -> bool:
        import base64
        import binascii

        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self.attempt(client, user, password)

    def notice(self) -> str:
        if not self.remote:
            return "Served on loopback: adding articles and updating the index need no login."
        if not self.login_possible:
            return (
                "**Upload and rebuild are disabled**: this server is open beyond loopback and no "
                "credentials are set (QA_ADMIN_USER and QA_ADMIN_PASSWORD)."
            )
        return "Log in to add articles or update the index."


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

    def answer(self, question: object, history: list[str] | None = None) -> qa.Answer:
        """qa.answer on the index in force, at most ANSWER_SLOTS at a time."""
        self.follow_switches()
        with self._slots:
            return qa.answer(question, self.retriever, history=history or ())  # type: ignore[arg-type]

    def search(self, query: object, k: int) -> list[qa.Hit]:
        self.follow_switches()
        with self._slots:
            return self.retriever.search(query, k=k)  # type: ignore[arg-type]

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
        m = self.retriever.manifest
        counts = m.get("counts", {})
        return (
            f"**{counts.get('articles', 0)} articles · {counts.get('passages', 0)} passages** · "
            f"model `{m.get('model_id', '?')}` · index built {m.get('built_at', '?')}"
        )

    def article_rows(self) -> list[list[Any]]:
        """The indexed articles, newest first."""
        rows = [
            [a["id"], a.get("title", ""), a.get("source", ""), a.get("date", ""), a.get("passages", 0)]
            for a in self.retriever.articles.values()
        ]
        return sorted(rows, key=lambda r: r[3] or "", reverse=True)

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


def render_answer(a: qa.Answer) -> str:
    """The answer as the chat shows it: quotes with the short answer in bold, then folded sources."""
    confidence = Markup("<small>confidence {:.2f}</small>").format(a.confidence)
    if a.abstained:
        return str(Markup("<p>{}<br>{}</p>").format(_text(a.text), confidence))
    if a.quotes:
        lines = [Markup("{} [{}]").format(render_quote(q, a.short_answer), q.citation) for q in a.quotes]
    else:
        lines = [_text(a.text)]
    sources = Markup("").join(render_source(n, hit) for n, hit in enumerate(a.citations, 1))
    body = Markup("<br>").join(lines)
    return str(Markup("<p>{}<br>{}</p><p><strong>Sources</strong></p>{}").format(body, confidence, sources))


def render_quote(q: qa.Quote, short: qa.ShortAnswer | None) -> Markup:
    """The quoted sentence, with the short answer in bold when it lies inside it."""
    if short is None or short.citation != q.citation or not (q.start <= short.start < short.end <= q.end):
        return _text(q.text)
    i, j = short.start - q.start, short.end - q.start
    return Markup("{}<strong>{}</strong>{}").format(_text(q.text[:i]), _text(q.text[i:j]), _text(q.text[j:]))


def render_source(n: int, hit: qa.Hit) -> Markup:
    """One folded source: title and byline, the passage with its best sentence marked, its offsets."""
    i = hit.best_sentence
    if i >= 0:
        s, e = hit.sentences[i]
        quoted = Markup("{}<mark>{}</mark>{}").format(_text(hit.text[:s]), _text(hit.text[s:e]), _text(hit.text[e:]))
    else:
        quoted = _text(hit.text)
    about = f" — {hit.about}" if hit.about else ""
    return Markup(
        "<details><summary>[{}] {}{}</summary><blockquote>{}</blockquote><small>{}, characters {}–{}</small></details>"
    ).format(n, hit.title, about, quoted, hit.doc_id, hit.start, hit.end)


def render_status(lines: list[str]) -> str:
    return str(Markup("<br>").join(_text(line) for line in lines))


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


def public_message(message: str, settings: qa.Settings) -> str:
    """A message of qa's as a web user may read it: the server's folders named by their role, not
    their paths, and no advice to run a `qa` command or pass an option, which only its owner can."""
    roles = {settings.seeds_dir: "the collection", settings.index_dir: "the index folder", upload_folder(): "the upload folder"}
    paths = {str(form): role for folder, role in roles.items() for form in (Path(folder), Path(folder).resolve()) if form.is_absolute()}
    for path in sorted(paths, key=len, reverse=True):  # the longest first: one folder may hold another
        message = message.replace(path, paths[path])
    message = re.sub(r" \([^()]*(?:`qa |--[a-z])[^()]*\)", "", message)
    return re.sub(r"[:;,] [^:;,]*(?:`qa |--[a-z])[^;]*", "", message)


def trim_folder(folder: Path, budget_bytes: int) -> None:
    """Delete the oldest files under `folder` until what is left fits the budget."""
    files = [(p.stat().st_mtime, p.stat().st_size, p) for p in folder.rglob("*") if p.is_file()]
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= budget_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size


# The login button asks the server for a session cookie (Gradio's upload route checks it); the
# Python handler then unlocks the buttons if the cookie came. The password goes to /api/login only.
LOGIN_JS = """
async (user, password) => {
  try {
    await fetch("api/login", {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify({user: user, password: password}), credentials: "same-origin"});
  } catch (e) { console.error(e); }
  return [user, ""];
}
"""


class Collection:
    """The Collection tab's actions: log in, add files or links, remove articles, update the index.
    Each answers with a status line and the refreshed table and header; writes follow `access`."""

    def __init__(self, library: Library, access: Access) -> None:
        self.library, self.access = library, access

    def login(self, user: str, _password: str, request: gr.Request) -> tuple[bool, str]:
        # The page's script has just logged in through /api/login, which checks the password, counts
        # failures per client and sets the session cookie: the cookie alone decides here, so that
        # this handler, reachable through Gradio's queue too, cannot be used to guess passwords.
        http = request.request
        if http is not None and self.access.has_session(dict(http.cookies)):
            return True, render_status(["Logged in: you can add articles and update the index."])
        try:
            self.access.throttle.check(http.client.host if http is not None and http.client else "")
        except TooManyFailures as exc:
            return False, render_status([f"{str(exc)[0].upper()}{str(exc)[1:]}."])
        return False, render_status(["Wrong user name or password." if self.access.login_possible else self.access.notice()])

    def upload(self, files: list[str] | None, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        # Only files inside the upload folder came through this server's upload route: any other
        # path named in a request is a file of the server's, neither to read nor to delete.
        folder = upload_folder()
        received = [f for f in files or () if uploaded_here(f, folder)]
        try:
            if not self.access.may_write(logged_in):
                return render_status([self.access.notice()]), self.library.article_rows(), self.library.header(), None
            if not files:
                return render_status(["Choose one or more .txt or .md files first."]), self.library.article_rows(), self.library.header(), None
            lines = [f"- refused {Path(f).name}: not a file uploaded to this server" for f in files if f not in received]
            more, added = add_files(self.library, received)
            if added:
                more.append(self.library.update_status(progress))
            return render_status(lines + more), self.library.article_rows(), self.library.header(), None
        finally:
            for f in received:
                Path(f).unlink(missing_ok=True)  # Gradio's copy: the article is in the seeds folder now

    def add_links(self, text: str, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not self.access.may_write(logged_in):
            return render_status([self.access.notice()]), self.library.article_rows(), self.library.header(), text
        items = [u.strip() for u in (text or "").splitlines() if u.strip()]
        if not items:
            return render_status(["Paste one or more links first."]), self.library.article_rows(), self.library.header(), text
        # qa.add reads anything else as a path on the server: the box takes web links only.
        urls = [u for u in items if is_web_link(u)]
        lines = [f"- refused {u}: only http:// and https:// links can be added" for u in items if u not in urls]
        more, added = add_files(self.library, urls)
        if added:
            more.append(self.library.update_status(progress))
        return render_status(lines + more), self.library.article_rows(), self.library.header(), ""

    def remove(self, text: str, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not self.access.may_write(logged_in):
            return render_status([self.access.notice()]), self.library.article_rows(), self.library.header(), text
        ids = [i.strip() for i in (text or "").replace(",", "\n").splitlines() if i.strip()]
        if not ids:
            return render_status(["Type the ids of the articles to remove first."]), self.library.article_rows(), self.library.header(), text
        try:
            removed = qa.remove(ids, self.library.settings)
        except qa.SourceError as exc:
            return render_status([public_message(str(exc), self.library.settings)]), self.library.article_rows(), self.library.header(), text
        return render_status([f"Removed {', '.join(removed)}.", self.library.update_status(progress)]), self.library.article_rows(), self.library.header(), ""

    def rebuild(self, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not self.access.may_write(logged_in):
            return render_status([self.access.notice()]), self.library.article_rows(), self.library.header()
        return render_status([self.library.update_status(progress)]), self.library.article_rows(), self.library.header()


def build_app(library: Library, access: Access) -> gr.Blocks:
    def respond(message: Any, history: list[dict[str, Any]], asked: list[str]) -> Iterator[tuple[Any, ...]]:
        question = message.strip() if isinstance(message, str) else ""
        if not question:
            gr.Warning("Type a question about the articles first.")
            yield history, asked, ""
            return
        history = [*history, {"role": "user", "content": str(_text(question))}]
        try:
            a = library.answer(question, asked)
        except qa.QAError as exc:
            history.append({"role": "assistant", "content": str(_text(f"Sorry: {exc}"))})
            yield history, asked, ""
            return
        except Exception:
            log.exception("answering %r failed", question[:200])
            history.append({"role": "assistant", "content": str(_text(INTERNAL_ERROR))})
            yield history, asked, ""
            return
        asked = [*asked, question][-5:]
        full = render_answer(a)
        # The answer is ready at once; it is revealed in a few steps so it reads like a reply. The
        # steps cut between top-level blocks, so that every step is well-formed HTML.
        parts = full.replace("</p>", "</p>\n").replace("</details>", "</details>\n").splitlines()
        for i in range(1, len(parts) + 1):
            # The box is cleared once; later steps leave it alone so a new question can be typed.
            yield [*history, {"role": "assistant", "content": "".join(parts[:i])}], asked, "" if i == 1 else gr.skip()
            if i < len(parts):
                time.sleep(0.03)

    def chat_api(question: str) -> str:
        """Answer one question; returns the answer text with its [n] markers and numbered sources."""
        try:
            return library.answer(question).full_text()
        except qa.QAError as exc:
            raise gr.Error(str(exc)) from None
        except Exception:
            log.exception("answering through /chat failed")
            raise gr.Error(INTERNAL_ERROR) from None

    # Uploaded files older than 10 minutes are removed every minute (and all of them at shutdown).
    with gr.Blocks(title="Ask the articles", delete_cache=(60, 600)) as demo:
        gr.Markdown("## Ask the articles\nQuestions in French or English; every answer quotes its sources.")
        header = gr.Markdown(library.header(), elem_id="qa-header")
        asked = gr.State([])
        logged_in = gr.State(False)
        with gr.Tab("Chat"):
            chatbot = gr.Chatbot(
                height=520,
                elem_id="qa-chat",
                sanitize_html=True,
                render_markdown=False,
                latex_delimiters=[],
                placeholder="Ask about the articles, e.g. “Combien Microsoft va-t-il investir au Japon ?”",
            )
            with gr.Row():
                box = gr.Textbox(placeholder="Your question…", show_label=False, scale=8, elem_id="qa-input", max_lines=6)
                send = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-send")
            clear = gr.Button("New conversation", size="sm")
            gr.Examples(EXAMPLES, inputs=box, label="Examples")
            for trigger in (box.submit, send.click):
                trigger(respond, [box, chatbot, asked], [chatbot, asked, box], api_visibility="private")
            clear.click(lambda: ([], [], ""), None, [chatbot, asked, box], api_visibility="private")
        with gr.Tab("Collection"):
            collection_tab(Collection(library, access), header, logged_in)
        gr.api(chat_api, api_name="chat")
    return demo


def collection_tab(actions: Collection, header: Any, logged_in: Any) -> None:
    """The Collection tab's components and events, inside the tab being built."""
    gr.Markdown(actions.access.notice(), elem_id="qa-access")
    with gr.Row(visible=actions.access.remote and actions.access.login_possible):
        user = gr.Textbox(label="User", scale=2, elem_id="qa-user")
        password = gr.Textbox(label="Password", type="password", scale=2, elem_id="qa-password")
        login_btn = gr.Button("Log in", scale=1, elem_id="qa-login")
    table = gr.Dataframe(
        value=actions.library.article_rows(),
        headers=["id", "title", "source", "date", "passages"],
        interactive=False,
        wrap=True,
        elem_id="qa-articles",
    )
    writable = actions.access.may_write(False) or actions.access.login_possible
    files = gr.File(
        label=(
            "Add articles: saved web pages (.html), PDFs, RSS/Atom feeds, .txt or .md, "
            f"up to {actions.library.settings.max_article_bytes // 1000:,} kB each"
        ),
        file_count="multiple",
        file_types=list(UPLOAD_TYPES),
        type="filepath",
        interactive=writable,
        elem_id="qa-files",
    )
    with gr.Row():
        add_btn = gr.Button("Add and update the index", variant="primary", interactive=writable, elem_id="qa-add")
        rebuild_btn = gr.Button("Update the index", interactive=writable)
    with gr.Row():
        links = gr.Textbox(label="Or links to pages or feeds (http/https), one per line", lines=2, scale=4, interactive=writable, elem_id="qa-links")
        links_btn = gr.Button("Add links", scale=1, interactive=writable, elem_id="qa-add-links")
    with gr.Row():
        to_remove = gr.Textbox(label="Remove articles: ids from the table, one per line", lines=1, scale=4, interactive=writable, elem_id="qa-remove-ids")
        remove_btn = gr.Button("Remove", variant="stop", scale=1, interactive=writable, elem_id="qa-remove")
    status = gr.HTML(elem_id="qa-status")
    login_btn.click(actions.login, [user, password], [logged_in, status], api_visibility="private", js=LOGIN_JS)
    add_btn.click(actions.upload, [files, logged_in], [status, table, header, files], api_name="upload", concurrency_limit=1)
    links_btn.click(actions.add_links, [links, logged_in], [status, table, header, links], api_name="add_links", concurrency_limit=1)
    remove_btn.click(actions.remove, [to_remove, logged_in], [status, table, header, to_remove], api_name="remove", concurrency_limit=1)
    rebuild_btn.click(actions.rebuild, [logged_in], [status, table, header], api_name="rebuild", concurrency_limit=1)


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
                if a.duplicate_of:
                    lines.append(f"- {shown}: already in the collection as {a.duplicate_of}")
                else:
                    lines.append(f"- added {shown if a.input == item else a.title} as {Path(a.path).name}")
                    added += 1
        except qa.SourceError as exc:
            # SourceError messages start with the item as given (after "nothing was added: ").
            reason = str(exc).removeprefix("nothing was added: ").replace(item, shown)
            lines.append(f"- refused {shown}: {public_message(reason, library.settings).removeprefix(f'{shown}: ')}")
        except OSError as exc:
            lines.append(f"- refused {shown}: {exc.strerror or type(exc).__name__}")
    return lines, added


UPLOAD_TYPES = (".html", ".htm", ".pdf", ".xml", ".rss", ".atom", ".txt", ".md")

# Gradio keeps uploads in its temporary folder until they are handled; this bounds what it may
# hold at once (the oldest go first).
UPLOAD_SPACE_BYTES = 100_000_000


def client_address(scope: dict[str, Any]) -> str:
    """The client's address (behind a reverse proxy on this machine, the one it forwards)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def too_many(exc: TooManyFailures) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})


class UploadGuard:
    """Gradio's upload route stores any file it is sent: here it takes files only from who may write.

    A plain ASGI wrapper, so that every other request (the chat's event streams above all) passes
    straight through, without the copying of Starlette's BaseHTTPMiddleware."""

    def __init__(self, app: Any, access: Access, upload_dir: Path | None) -> None:
        self.app, self.access, self.upload_dir = app, access, upload_dir

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/upload"):
            from starlette.requests import Request
            from starlette.responses import JSONResponse

            request = Request(scope)
            try:
                allowed = self.access.request_may_write(dict(request.cookies), request.headers.get("authorization", ""), client_address(scope))
            except TooManyFailures as exc:
                await too_many(exc)(scope, receive, send)
                return
            if not allowed:
                await JSONResponse({"error": self.access.notice().replace("**", "")}, status_code=403)(scope, receive, send)
                return
            if self.upload_dir is not None:
                trim_folder(self.upload_dir, UPLOAD_SPACE_BYTES)
        await self.app(scope, receive, send)


# The names every server answers to, whatever it listens on; QA_ALLOWED_HOSTS adds others.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Gradio's routes that name the function to run by its fn_index in a JSON body.
FN_INDEX_ROUTES = re.compile(r"/gradio_api/(?:queue/join|api/[^/]+)/?$")
MAX_FN_BODY_BYTES = 1_000_000  # larger bodies go to Gradio unchecked (its own limits apply)


def split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header's name and port: "[::1]:7860" → ("::1", 7860), "News.example.com" →
    ("news.example.com", None); None when it is malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, close, port = value[1:].partition("]")
        if not close or (port and not port.startswith(":")):
            return None
        port = port[1:]
    elif value.count(":") > 1:  # an IPv6 address without brackets, hence without a port
        name, port = value, ""
    else:
        name, _, port = value.partition(":")
    if not re.fullmatch(r"[a-z0-9_.:-]+", name) or (port and not (port.isascii() and port.isdigit() and len(port) <= 5)):
        return None
    return name, int(port) if port else None


def served_names(bind: str, allowed: str) -> tuple[str, ...]:
    """The host names the server answers to: loopback's, its bind address unless that is a wildcard
    (which says nothing of the names clients use), and those of `allowed` (QA_ALLOWED_HOSTS:
    comma-separated, ports ignored, "*.example.com" for any name under example.com)."""
    entries = [*LOCAL_NAMES, *allowed.split(",")]
    if bind.strip().strip("[]") not in WILDCARD_ADDRESSES:
        entries.append(bind)
    names = []
    for entry in (e.strip() for e in entries):
        parsed = split_host(entry.removeprefix("*.")) if entry else None
        if parsed is not None:
            names.append(("*." if entry.startswith("*.") else "") + parsed[0])
    return tuple(dict.fromkeys(names))


def host_served(name: str, names: tuple[str, ...]) -> bool:
    return any(name == n or (n.startswith("*.") and name.endswith(n[1:])) for n in names)


def same_origin(source: str, host: str) -> bool:
    """Whether an Origin (or Referer) names the site the request is addressed to, its Host: then it
    comes from one of this server's own pages. Ports compare with the scheme's default filled in."""
    try:
        url = urlsplit(source.strip())
        port = url.port
    except ValueError:
        return False
    target = split_host(host)
    if url.scheme not in ("http", "https") or not url.hostname or target is None:
        return False
    default = 443 if url.scheme == "https" else 80
    return url.hostname == target[0] and (port or default) == (target[1] or default)


class SiteGuard:
    """What no route may see, Gradio's included, refused before any of them runs:

    - a request addressed to a host name this server does not serve (400): after DNS rebinding, a
      page of the attacker's site reaches the server under the attacker's name;
    - a write sent by a page of another origin (403): a browser sends such requests for any page,
      CORS or not ("no-cors"), with the Origin (else the Referer) of that page; programs send
      neither header and are let through;
    - a call of a Gradio function that does not exist (404), which Gradio answers with a 500
      and a traceback in the log.
    """

    def __init__(self, app: Any, names: tuple[str, ...], fn_ids: set[int]) -> None:
        self.app, self.names, self.fn_ids = app, names, fn_ids

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers

        headers = Headers(scope=scope)
        refusal = self.refusal(scope["method"], headers)
        if refusal is None and scope["method"] == "POST" and FN_INDEX_ROUTES.search(scope["path"]):
            refusal, receive = await self.unknown_function(receive)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, method: str, headers: Any) -> Any:
        from starlette.responses import JSONResponse

        host = headers.get("host", "")
        parsed = split_host(host)
        if parsed is None or not host_served(parsed[0], self.names):
            message = f"this server does not answer to the host name {host!r}; its operator can add it to QA_ALLOWED_HOSTS"
            return JSONResponse({"error": message}, status_code=400)
        source = headers.get("origin") or headers.get("referer")
        if method in UNSAFE_METHODS and source is not None and not same_origin(source, host):
            return JSONResponse({"error": "refused: this request comes from a page of another site"}, status_code=403)
        return None

    async def unknown_function(self, receive: Any) -> tuple[Any, Any]:
        """Read the body (then handed on as it came) and refuse a fn_index Gradio does not have."""
        from starlette.responses import JSONResponse

        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body") or size > MAX_FN_BODY_BYTES:
                break
        replay = iter(messages)

        async def replayed() -> Any:
            return next(replay, None) or await receive()

        complete = messages[-1]["type"] == "http.request" and not messages[-1].get("more_body")
        try:
            fn_index = json.loads(b"".join(m.get("body", b"") for m in messages)).get("fn_index") if complete else None
        except (ValueError, AttributeError):
            fn_index = None  # not JSON, or not an object: Gradio's validation answers
        if isinstance(fn_index, int) and not isinstance(fn_index, bool) and fn_index not in self.fn_ids:
            return JSONResponse({"error": f"no function {fn_index} in this app (GET /gradio_api/info lists them)"}, status_code=404), replayed
        return None, replayed


def create_server(settings: qa.Settings, host: str = "127.0.0.1", retriever: qa.Retriever | None = None, public: bool = False) -> Any:
    """The whole web server as one ASGI app: the JSON API under /api, the chat at /."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from ui.api import api_router

    library = Library(settings, retriever)
    access = Access.for_host(host, public=public)
    server = FastAPI(title="Ask the articles", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    server.include_router(api_router(library, access))

    @server.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, status_code=422)

    @server.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        # The API's answer stays JSON; the traceback goes to the log only.
        return JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)

    upload_dir = Path(os.environ["GRADIO_TEMP_DIR"]) if os.environ.get("GRADIO_TEMP_DIR") else None

    demo = build_app(library, access)
    demo.queue(default_concurrency_limit=8, max_size=256)
    # No run history: the server would keep every question asked in memory, for a page we do not show.
    app = gr.mount_gradio_app(
        server, demo, path="/", max_file_size=settings.max_article_bytes, footer_links=["api"], show_error=True, run_history=False
    )
    # launch() marks the app launched and mount_gradio_app does not; until it is, Gradio skips its
    # check that a file named in a request was uploaded through it, so that any file of the
    # server could be named (and handed to our upload handler as an upload).
    demo.has_launched = True
    names = served_names(host, os.environ.get("QA_ALLOWED_HOSTS", ""))
    return SiteGuard(UploadGuard(app, access, upload_dir), names, set(demo.fns))


def serve(
    settings: qa.Settings, host: str = "127.0.0.1", port: int = 7860, retriever: qa.Retriever | None = None, public: bool = False
) -> None:
    """Serve the chat and the JSON API until interrupted; Gradio's temporary files live in a folder
    of this server's own, removed when it stops."""
    import uvicorn

    temp = Path(tempfile.mkdtemp(prefix="qa-serve-"))
    os.environ["GRADIO_TEMP_DIR"] = str(temp)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: exit through Python
    # then, so that the clean-up below runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        app = create_server(settings, host, retriever, public)
        print(f"* serving the chat on http://{host}:{port}/ and the JSON API on http://{host}:{port}/api/docs", flush=True)
        if public or not is_loopback(host):
            names = ", ".join(f"[{n}]" if ":" in n else n for n in served_names(host, os.environ.get("QA_ALLOWED_HOSTS", "")))
            print(f"* answering requests addressed to {names} only (QA_ALLOWED_HOSTS adds names)", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
