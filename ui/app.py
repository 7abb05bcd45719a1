"""The web chat: ask the articles, read the cited passages, manage the collection.

Only `qa`'s public API is used here. Every piece of article or user text goes through `_text`
(HTML-escaped, Markdown-escaped) before it reaches the page: it is shown, never run.
"""

from __future__ import annotations

import hmac
import html
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from an offline tool
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr

import qa

EXAMPLES = [
    "Combien Microsoft va-t-il investir au Japon ?",
    "How much will Amazon Web Services invest in Japan, and by when?",
    "Quelles entreprises japonaises recevront des GPU de NVIDIA ?",
    "Who is the president of Microsoft quoted in the announcement?",
]
LOOPBACK = ("127.", "localhost", "::1")
_MD_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def _text(s: str) -> str:
    """User or article text as inert Markdown: no HTML, no formatting, line breaks kept."""
    escaped = _MD_SPECIALS.sub(r"\\\1", html.escape(s, quote=True))
    return escaped.replace("\n", "<br>")


def is_loopback(host: str) -> bool:
    return host.startswith(LOOPBACK)


@dataclass
class Access:
    """Who may write (upload, rebuild): anyone on loopback; beyond it, only after a login."""

    remote: bool
    user: str
    password: str

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

    def header(self) -> str:
        m = self.retriever.manifest
        counts = m.get("counts", {})
        return (
            f"**{counts.get('articles', 0)} articles · {counts.get('passages', 0)} passages** · "
            f"model `{m.get('model_id', '?')}` · index built {m.get('built_at', '?')}"
        )

    def article_rows(self) -> list[list[Any]]:
        return [
            [a["id"], a.get("title", ""), a.get("source", ""), a.get("date", ""), a.get("passages", 0)]
            for a in self.retriever.articles.values()
        ]

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
    confidence = f"<small>confidence {a.confidence:.2f}</small>"
    if a.abstained:
        return f"{_text(a.text)}<br>{confidence}"
    lines = [f"{render_quote(q, a.short_answer)} [{q.citation}]" for q in a.quotes] if a.quotes else [_text(a.text)]
    sources = [render_source(n, hit) for n, hit in enumerate(a.citations, 1)]
    return "<br>".join(lines) + f"<br>{confidence}\n\n**Sources**\n\n" + "\n\n".join(sources)


def render_quote(q: qa.Quote, short: qa.ShortAnswer | None) -> str:
    """The quoted sentence, with the short answer in bold when it lies inside it."""
    if short is None or short.citation != q.citation or not (q.start <= short.start < short.end <= q.end):
        return _text(q.text)
    i, j = short.start - q.start, short.end - q.start
    return f"{_text(q.text[:i])}<strong>{_text(q.text[i:j])}</strong>{_text(q.text[j:])}"


def render_source(n: int, hit: qa.Hit) -> str:
    meta = " · ".join(html.escape(x) for x in (hit.source, hit.date, hit.place) if x)
    title = html.escape(hit.title)
    i = hit.best_sentence
    if i >= 0:
        s, e = hit.sentences[i]
        quoted = f"{_text(hit.text[:s])}<mark>{_text(hit.text[s:e])}</mark>{_text(hit.text[e:])}"
    else:
        quoted = _text(hit.text)
    return (
        f"<details><summary>[{n}] {title}{' — ' + meta if meta else ''}</summary>"
        f"<blockquote>{quoted}</blockquote>"
        f"<small>{html.escape(hit.doc_id)}, characters {hit.start}–{hit.end}</small></details>"
    )


def build_app(settings: qa.Settings, host: str = "127.0.0.1", retriever: qa.Retriever | None = None) -> gr.Blocks:
    library = Library(settings, retriever)
    access = Access.for_host(host)

    def respond(message: str, history: list[dict[str, Any]], asked: list[str]) -> Iterator[tuple[Any, ...]]:
        question = (message or "").strip()
        if not question:
            gr.Warning("Type a question about the articles first.")
            yield history, asked, ""
            return
        history = [*history, {"role": "user", "content": _text(question)}]
        try:
            a = qa.answer(question, library.retriever, history=asked)
        except qa.QAError as exc:
            history.append({"role": "assistant", "content": _text(f"Sorry: {exc}")})
            yield history, asked, ""
            return
        asked = [*asked, question][-5:]
        full = render_answer(a)
        # The answer is ready at once; it is revealed in a few steps so it reads like a reply.
        words = full.split(" ")
        step = max(1, len(words) // 6)
        for i in range(step, len(words) + step, step):
            partial = " ".join(words[:i]) if i < len(words) else full
            # The box is cleared once; later steps leave it alone so a new question can be typed.
            yield [*history, {"role": "assistant", "content": partial}], asked, "" if i == step else gr.skip()
            if i < len(words):
                time.sleep(0.02)

    def chat_api(question: str) -> str:
        """Answer one question; returns the answer text with its [n] markers and numbered sources."""
        try:
            return qa.answer(question, library.retriever).full_text()
        except qa.QAError as exc:
            raise gr.Error(str(exc)) from None

    def login(user: str, password: str) -> tuple[bool, str]:
        if access.check(user or "", password or ""):
            return True, "Logged in: you can add articles and update the index."
        return False, "Wrong user name or password." if access.login_possible else access.notice()

    def upload(files: list[str] | None, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not access.may_write(logged_in):
            return access.notice(), library.article_rows(), library.header(), None
        if not files:
            return "Choose one or more .txt or .md files first.", library.article_rows(), library.header(), None
        lines = []
        added = 0
        for f in files:
            original = Path(f).name
            try:
                data = Path(f).read_bytes()
                saved = qa.add_article(settings.seeds_dir, original, data, settings.max_upload_bytes)
                lines.append(f"- added {html.escape(original)} as {saved.name}")
                added += 1
            except (ValueError, OSError) as exc:
                lines.append(f"- refused {html.escape(original)}: {html.escape(str(exc))}")
        if added:
            lines.append(library.rebuild(progress))
        return "\n".join(lines), library.article_rows(), library.header(), None

    def rebuild(logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not access.may_write(logged_in):
            return access.notice(), library.article_rows(), library.header()
        return library.rebuild(progress), library.article_rows(), library.header()

    with gr.Blocks(title="Ask the articles") as demo:
        gr.Markdown("## Ask the articles\nQuestions in French or English; every answer quotes its sources.")
        header = gr.Markdown(library.header(), elem_id="qa-header")
        asked = gr.State([])
        logged_in = gr.State(False)
        with gr.Tab("Chat"):
            chatbot = gr.Chatbot(
                height=520,
                elem_id="qa-chat",
                sanitize_html=True,
                render_markdown=True,
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
                user = gr.Textbox(label="User", scale=2)
                password = gr.Textbox(label="Password", type="password", scale=2)
                login_btn = gr.Button("Log in", scale=1)
            table = gr.Dataframe(
                value=library.article_rows(),
                headers=["id", "title", "source", "date", "passages"],
                interactive=False,
                wrap=True,
                elem_id="qa-articles",
            )
            writable = access.may_write(False) or access.login_possible
            files = gr.File(
                label=f"Add articles (.txt or .md, UTF-8, up to {settings.max_upload_bytes // 1000:,} kB each)",
                file_count="multiple",
                file_types=[".txt", ".md"],
                type="filepath",
                interactive=writable,
            )
            with gr.Row():
                add_btn = gr.Button("Add and update the index", variant="primary", interactive=writable)
                rebuild_btn = gr.Button("Update the index", interactive=writable)
            status = gr.Markdown(elem_id="qa-status")
            login_btn.click(login, [user, password], [logged_in, status], api_visibility="private")
            add_btn.click(upload, [files, logged_in], [status, table, header, files], api_name="upload", concurrency_limit=1)
            rebuild_btn.click(rebuild, [logged_in], [status, table, header], api_name="rebuild", concurrency_limit=1)
        gr.api(chat_api, api_name="chat")
    return demo


def serve(settings: qa.Settings, host: str = "127.0.0.1", port: int = 7860, retriever: qa.Retriever | None = None) -> None:
    demo = build_app(settings, host, retriever)
    demo.queue(default_concurrency_limit=8, max_size=256).launch(
        server_name=host,
        server_port=port,
        show_error=True,
        max_file_size=settings.max_upload_bytes,
        footer_links=["api"],
    )
