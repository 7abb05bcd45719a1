"""The web chat: ask the articles, read the cited passages, manage the collection.

Only `qa`'s public API is used here. Messages are HTML built with markupsafe: every piece of
article or user text is escaped by `_text`, so it is shown exactly as written and never run, and
Gradio's Chatbot renders them as sanitised HTML with Markdown and LaTeX switched off (Markdown
would read an article's `*`, `_`, `#` or `$$` as formatting).
"""

from __future__ import annotations

import hmac
import logging
import os
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
LOOPBACK = ("127.", "localhost", "::1")
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
    return host.startswith(LOOPBACK)


@dataclass
class Access:
    """Who may write (upload, rebuild): anyone on loopback; beyond it, only after a login.

    A login gives the browser an HTTP-only session cookie, which Gradio's own upload route and
    the JSON API's writes require; programs may send HTTP Basic credentials instead."""

    remote: bool
    user: str
    password: str
    sessions: set[str] = field(default_factory=set)

    @classmethod
    def for_host(cls, host: str, env: dict[str, str] | None = None) -> Access:
        env = os.environ if env is None else env
        return cls(not is_loopback(host), env.get("QA_ADMIN_USER", ""), env.get("QA_ADMIN_PASSWORD", ""))

    @property
    def login_possible(self) -> bool:
        return bool(self.user and self.password)

    def check(self, user: str, password: str) -> bool:
        if not self.login_possible:
            return False
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_pass = hmac.compare_digest(password.encode(), self.password.encode())
        return ok_user and ok_pass

    def may_write(self, logged_in: bool) -> bool:
        return not self.remote or (self.login_possible and logged_in)

    def new_session(self) -> str:
        if len(self.sessions) > 10_000:  # bounded: a flood of logins cannot grow memory
            self.sessions.clear()
        token = secrets.token_urlsafe(32)
        self.sessions.add(token)
        return token

    def request_may_write(self, cookies: dict[str, str], authorization: str = "") -> bool:
        """Whether an HTTP request may write: on loopback always; beyond it with a session cookie
        from a login, or with HTTP Basic credentials."""
        if not self.remote:
            return True
        if not self.login_possible:
            return False
        token = cookies.get(SESSION_COOKIE, "")
        if token and any(hmac.compare_digest(token, t) for t in list(self.sessions)):
            return True
        return self._basic_ok(authorization)

    def _basic_ok(self, authorization: str) -> bool:
        import base64
        import binascii

        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self.check(user, password)

    def notice(self) -> str:
        if not self.remote:
            return "Served on loopback: adding articles and updating the index need no login."
        if not self.login_possible:
            return (
                "**Upload and rebuild are disabled**: this server listens beyond loopback and no "
                "credentials are set (QA_ADMIN_USER and QA_ADMIN_PASSWORD)."
            )
        return "Log in to add articles or update the index."


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
            skipped = "".join(f"\n- skipped {Path(s.path).name}: {s.reason}" for s in report.skipped)
            return f"Index updated: {report.summary()}.{skipped}"
        except qa.QAError as exc:
            return f"The update failed and the previous index is still serving: {exc}"
        finally:
            self._build_lock.release()


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


def trim_folder(folder: Path, budget_bytes: int) -> None:
    """Delete the oldest files under `folder` until what is left fits the budget."""
    files = [(p.stat().st_mtime, p.stat().st_size, p) for p in folder.rglob("*") if p.is_file()]
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= budget_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size


# The login button first asks the server for a session cookie (Gradio's upload route checks it),
# then hands the credentials on to the Python handler, which unlocks the buttons.
LOGIN_JS = """
async (user, password) => {
  try {
    await fetch("api/login", {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify({user: user, password: password}), credentials: "same-origin"});
  } catch (e) { console.error(e); }
  return [user, password];
}
"""


def build_app(library: Library, access: Access) -> gr.Blocks:
    settings = library.settings

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

    def login(user: str, password: str) -> tuple[bool, str]:
        if access.check(user or "", password or ""):
            return True, render_status(["Logged in: you can add articles and update the index."])
        return False, render_status(["Wrong user name or password." if access.login_possible else access.notice()])

    def upload(files: list[str] | None, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        try:
            if not access.may_write(logged_in):
                return render_status([access.notice()]), library.article_rows(), library.header(), None
            if not files:
                return render_status(["Choose one or more .txt or .md files first."]), library.article_rows(), library.header(), None
            lines, added = add_files(library, files)
            if added:
                lines.append(library.rebuild(progress))
            return render_status(lines), library.article_rows(), library.header(), None
        finally:
            for f in files or ():
                Path(f).unlink(missing_ok=True)  # Gradio's copy: the article is in the seeds folder now

    def add_links(text: str, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not access.may_write(logged_in):
            return render_status([access.notice()]), library.article_rows(), library.header(), text
        urls = [u.strip() for u in (text or "").splitlines() if u.strip()]
        if not urls:
            return render_status(["Paste one or more links first."]), library.article_rows(), library.header(), text
        lines, added = add_files(library, urls)
        if added:
            lines.append(library.rebuild(progress))
        return render_status(lines), library.article_rows(), library.header(), ""

    def remove(text: str, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not access.may_write(logged_in):
            return render_status([access.notice()]), library.article_rows(), library.header(), text
        ids = [i.strip() for i in (text or "").replace(",", "\n").splitlines() if i.strip()]
        if not ids:
            return render_status(["Type the ids of the articles to remove first."]), library.article_rows(), library.header(), text
        try:
            removed = qa.remove(ids, settings)
        except qa.SourceError as exc:
            return render_status([str(exc)]), library.article_rows(), library.header(), text
        return render_status([f"Removed {', '.join(removed)}.", library.rebuild(progress)]), library.article_rows(), library.header(), ""

    def rebuild(logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not access.may_write(logged_in):
            return render_status([access.notice()]), library.article_rows(), library.header()
        return render_status([library.rebuild(progress)]), library.article_rows(), library.header()

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
            gr.Markdown(access.notice(), elem_id="qa-access")
            with gr.Row(visible=access.remote and access.login_possible):
                user = gr.Textbox(label="User", scale=2, elem_id="qa-user")
                password = gr.Textbox(label="Password", type="password", scale=2, elem_id="qa-password")
                login_btn = gr.Button("Log in", scale=1, elem_id="qa-login")
            table = gr.Dataframe(
                value=library.article_rows(),
                headers=["id", "title", "source", "date", "passages"],
                interactive=False,
                wrap=True,
                elem_id="qa-articles",
            )
            writable = access.may_write(False) or access.login_possible
            files = gr.File(
                label=(
                    "Add articles: saved web pages (.html), PDFs, RSS/Atom feeds, .txt or .md, "
                    f"up to {settings.max_article_bytes // 1000:,} kB each"
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
            login_btn.click(login, [user, password], [logged_in, status], api_visibility="private", js=LOGIN_JS)
            add_btn.click(upload, [files, logged_in], [status, table, header, files], api_name="upload", concurrency_limit=1)
            links_btn.click(add_links, [links, logged_in], [status, table, header, links], api_name="add_links", concurrency_limit=1)
            remove_btn.click(remove, [to_remove, logged_in], [status, table, header, to_remove], api_name="remove", concurrency_limit=1)
            rebuild_btn.click(rebuild, [logged_in], [status, table, header], api_name="rebuild", concurrency_limit=1)
        gr.api(chat_api, api_name="chat")
    return demo


def add_files(library: Library, inputs: list[str]) -> tuple[list[str], int]:
    """Add uploaded files or links to the collection, each on its own: one status line per article
    (or per refusal), and how many were added."""
    lines, added = [], 0
    for item in inputs:
        shown = item if "://" in item else Path(item).name
        try:
            for a in qa.add([item], library.settings):
                if a.duplicate_of:
                    lines.append(f"- {shown}: already in the collection as {a.duplicate_of}")
                else:
                    lines.append(f"- added {shown if a.input == item else a.title} as {Path(a.path).name}")
                    added += 1
        except qa.SourceError as exc:
            lines.append(f"- refused {shown}: {str(exc).removeprefix('nothing was added: ')}")
        except OSError as exc:
            lines.append(f"- refused {shown}: {exc.strerror or exc}")
    return lines, added


UPLOAD_TYPES = (".html", ".htm", ".pdf", ".xml", ".rss", ".atom", ".txt", ".md")

# Gradio keeps uploads in its temporary folder until they are handled; this bounds what it may
# hold at once (the oldest go first).
UPLOAD_SPACE_BYTES = 100_000_000


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
            if not self.access.request_may_write(dict(request.cookies), request.headers.get("authorization", "")):
                await JSONResponse({"error": self.access.notice().replace("**", "")}, status_code=403)(scope, receive, send)
                return
            if self.upload_dir is not None:
                trim_folder(self.upload_dir, UPLOAD_SPACE_BYTES)
        await self.app(scope, receive, send)


def create_server(settings: qa.Settings, host: str = "127.0.0.1", retriever: qa.Retriever | None = None) -> Any:
    """The whole web server as one ASGI app: the JSON API under /api, the chat at /."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from ui.api import api_router

    library = Library(settings, retriever)
    access = Access.for_host(host)
    server = FastAPI(title="Ask the articles", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    server.include_router(api_router(library, access))

    @server.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, status_code=422)
    upload_dir = Path(os.environ["GRADIO_TEMP_DIR"]) if os.environ.get("GRADIO_TEMP_DIR") else None

    demo = build_app(library, access)
    demo.queue(default_concurrency_limit=8, max_size=256)
    # No run history: the server would keep every question asked in memory, for a page we do not show.
    app = gr.mount_gradio_app(
        server, demo, path="/", max_file_size=settings.max_article_bytes, footer_links=["api"], show_error=True, run_history=False
    )
    return UploadGuard(app, access, upload_dir)


def serve(settings: qa.Settings, host: str = "127.0.0.1", port: int = 7860, retriever: qa.Retriever | None = None) -> None:
    """Serve the chat and the JSON API until interrupted; Gradio's temporary files live in a folder
    of this server's own, removed when it stops."""
    import uvicorn

    temp = Path(tempfile.mkdtemp(prefix="qa-serve-"))
    os.environ["GRADIO_TEMP_DIR"] = str(temp)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: exit through Python
    # then, so that the clean-up below runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        app = create_server(settings, host, retriever)
        print(f"* serving the chat on http://{host}:{port}/ and the JSON API on http://{host}:{port}/api/docs", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
