"""A Library and an Access → the web chat (Gradio Blocks): ask the articles (all of them, or within
a choice), follow each citation to its article, keep conversations, manage the collection.

Two tabs: Chat, whose answers are HTML from ui/render.py (Gradio's Chatbot shows them as sanitised
HTML, Markdown and LaTeX off), and Collection, whose writes follow the Access's rule. A side panel
lists the conversations, kept in the browser (Gradio's BrowserState: localStorage). Every page
load, and a timer after it, shows the collection as it is, whoever changed it. Programs call
`/chat` through Gradio's API; ui/api.py serves the JSON API and ui/server.py mounts both.
"""

from __future__ import annotations

import html
import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import gradio as gr
from markupsafe import Markup

import qa
from ui.access import Access, TooManyFailures, client_address
from ui.library import Library, add_files, is_web_link, public_message, upload_folder, uploaded_here
from ui.render import answer_steps, article_link, plain_message, render_status, user_message

log = logging.getLogger(__name__)

EXAMPLES = [
    "Combien Microsoft va-t-il investir au Japon ?",
    "How much will Amazon Web Services invest in Japan, and by when?",
    "Quelles entreprises japonaises recevront des GPU de NVIDIA ?",
    "Who is the president of Microsoft quoted in the announcement?",
]
INTERNAL_ERROR = "Sorry: something went wrong on the server while answering; the server log has the details."
UPLOAD_TYPES = (".html", ".htm", ".pdf", ".xml", ".rss", ".atom", ".txt", ".md")
# How often an open page checks whether the collection or the index changed (a cheap check; the
# page is refreshed only when they did).
REFRESH_S = 5.0
MAX_CONVERSATIONS = 30
# BrowserState encrypts what it keeps with a key that is in the page itself: no secret, so a fixed
# one, which keeps the conversations readable after the server restarts.
BROWSER_KEY = "newsqa-conversations"
ANYWHERE = "Ask within: all articles"

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
# Where Gradio has no way: its Chatbot copies a message's content, and reads it to screen readers
# (aria-label), as it is, HTML here. Messages carry their text in data-copy (ui/render.py): the
# clipboard, the labels and the export get that text; links to article pages are made absolute.
APP_HEAD = """<script>
(() => {
  const plain = (s) => {
    if (typeof s !== "string" || !s.includes("data-copy=")) return s;
    const el = new DOMParser().parseFromString(s, "text/html").querySelector("[data-copy]");
    const text = el ? el.getAttribute("data-copy") : s;
    return text.replace(/(^|\\s)(articles\\/\\S+)/g, (m, sp, rel) => sp + new URL(rel, document.baseURI).href);
  };
  window.qaPlain = plain;
  if (navigator.clipboard && navigator.clipboard.writeText) {
    const write = navigator.clipboard.writeText.bind(navigator.clipboard);
    navigator.clipboard.writeText = (s) => write(plain(s));
  }
  document.addEventListener("copy", (e) => {  // Gradio's fallback without navigator.clipboard
    const t = document.activeElement;
    if (t && t.tagName === "TEXTAREA" && t.value.includes("data-copy=")) {
      e.clipboardData.setData("text/plain", plain(t.value));
      e.preventDefault();
    }
  }, true);
  const fix = (el) => {
    const v = el.getAttribute && el.getAttribute("aria-label");
    if (v && v.includes("data-copy=")) {
      const i = v.indexOf("<");
      el.setAttribute("aria-label", v.slice(0, i).replace("bot's", "Answer").replace("user's", "Question") + plain(v.slice(i)));
    }
  };
  new MutationObserver((changes) => {
    for (const c of changes) {
      if (c.type === "attributes") fix(c.target);
      else c.addedNodes.forEach((n) => { if (n.nodeType === 1) { fix(n); n.querySelectorAll("[aria-label]").forEach(fix); } });
    }
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"]});
})();
</script>"""
EXPORT_JS = """
(messages) => {
  const text = (m) => typeof m.content === "string" ? m.content
    : Array.isArray(m.content) ? m.content.map((p) => p.content ?? p.text ?? "").join("\\n") : "";
  const lines = ["# Ask the articles — " + new Date().toISOString().slice(0, 16).replace("T", " "), ""];
  for (const m of messages || []) {
    const said = window.qaPlain(text(m));
    lines.push(m.role === "user" ? "**You:** " + said : said, "");
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([lines.join("\\n")], {type: "text/markdown"}));
  link.download = "chat-" + new Date().toISOString().slice(0, 10) + ".md";
  document.body.append(link);
  link.click();
  link.remove();
  return [];
}
"""
APP_CSS = """
#qa-chat .qa-cite { text-decoration: none; font-weight: 600; }
#qa-chat .qa-confidence span { border-bottom: 1px dotted currentColor; cursor: help; }
#qa-chat .qa-versions { border-left: 4px solid #9ca3af; padding-left: .7rem; margin: .2rem 0 .6rem; }
#qa-chat .qa-versions.qa-agree { border-color: #10b981; }
#qa-chat .qa-versions.qa-differ { border-color: #f59e0b; }
#qa-chat .qa-versions ul { margin: .2rem 0; padding-left: 1.1rem; }
#qa-chat .qa-within { opacity: .75; margin-bottom: .3rem; }
#qa-header p { margin: 0; }
#qa-articles .cell-wrap { font-family: var(--font); }
#qa-articles a { color: var(--link-text-color, #2563eb); text-decoration: underline; }
#qa-articles .cell-menu-button { display: none !important; }  /* no row editing: only the boxes are to tick */
@media (max-width: 640px) {
  .qa-intro { display: none; }
  #qa-header { font-size: .8rem; }
  #qa-chat { height: calc(100svh - 330px) !important; min-height: 240px; }
}
"""


def within_words(library: Library, f: qa.Filters) -> str:
    """The choice in words, by titles (no ids): "Microsoft va investir… · source AFP · since 2024-04-01"."""
    titles = [library.retriever.articles.get(i, {}).get("title", i) for i in f.doc_ids]
    parts = ([short(titles[0])] if len(titles) == 1 else [f"{len(titles)} articles"] if titles else [])
    parts += [f"source {f.source}"] if f.source else []
    parts += [f"since {f.since}"] if f.since else []
    parts += [f"until {f.until}"] if f.until else []
    return " · ".join(parts)


def short(title: str, n: int = 60) -> str:
    return title if len(title) <= n else title[: n - 1].rstrip() + "…"


def copy_text(content: Any) -> str:
    """A chat message's text, from its data-copy (the chatbot gives its content as a string or
    as a list of parts)."""
    if isinstance(content, list):
        content = "".join(str(p.get("text") or p.get("content") or "") if isinstance(p, dict) else str(p) for p in content)
    found = re.search(r'data-copy="([^"]*)"', str(content or ""))
    return html.unescape(found.group(1)) if found else html.unescape(re.sub(r"<[^>]+>", "", str(content or "")))


def choice_of(docs: Any, source: Any, since: Any, until: Any) -> qa.Filters:
    """The chat's Ask-within choice as qa.Filters (QuestionError for a bad date)."""
    return qa.Filters(tuple(docs or ()), str(source or ""), str(since or "")[:10], str(until or "")[:10])


class Chat:
    """The Chat tab's actions: answer a question in the light of the conversation's earlier ones
    (within the chosen articles), and `/chat`, one question at a time, for programs."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def respond(self, message: Any, history: list[dict[str, Any]], asked: list[str], *choice: Any) -> Iterator[tuple[Any, ...]]:
        question = message.strip() if isinstance(message, str) else ""
        if not question:
            gr.Warning("Type a question about the articles first.")
            yield history, asked, ""
            return
        history = [*history, {"role": "user", "content": user_message(question)}]
        try:
            filters = choice_of(*choice)
            a = self.library.answer(question, asked, filters or None)
        except qa.QAError as exc:
            history.append({"role": "assistant", "content": plain_message(f"Sorry: {exc}")})
            yield history, asked, ""
            return
        except Exception:
            log.exception("answering %r failed", question[:200])
            history.append({"role": "assistant", "content": plain_message(INTERNAL_ERROR)})
            yield history, asked, ""
            return
        asked = [*asked, question][-5:]
        steps = answer_steps(a, within_words(self.library, filters))
        # The answer is ready at once; it is revealed in a few steps so it reads like a reply.
        for i, step in enumerate(steps):
            # The box is cleared once; later steps leave it alone so a new question can be typed.
            yield [*history, {"role": "assistant", "content": step}], asked, "" if i == 0 else gr.skip()
            if i < len(steps) - 1:
                time.sleep(0.03)

    def api(self, question: str) -> str:
        """Answer one question; returns the answer text with its [n] markers and numbered sources."""
        try:
            return self.library.answer(question).full_text()
        except qa.QAError as exc:
            raise gr.Error(str(exc)) from None
        except Exception:
            log.exception("answering through /chat failed")
            raise gr.Error(INTERNAL_ERROR) from None


class Conversations:
    """The conversations kept in the browser (a list, newest first, of id, title, messages and the
    questions asked), and which one is open: saved after every answer, listed in the side panel,
    the open one restored when the page is loaded again."""

    @staticmethod
    def titles(saved: list[dict[str, Any]] | None) -> Any:
        return gr.Dataset(samples=[[c.get("title", "")] for c in saved or []])

    @staticmethod
    def save(messages: list[dict[str, Any]], asked: list[str], saved: list[dict[str, Any]] | None, open_id: str) -> tuple[Any, ...]:
        if not messages:
            return gr.skip(), gr.skip(), gr.skip()
        saved = [c for c in saved or [] if isinstance(c, dict)]
        open_id = open_id or uuid.uuid4().hex[:12]
        first = next((m for m in messages if m.get("role") == "user"), {})
        title = short(copy_text(first.get("content")), 50)
        record = {"id": open_id, "title": title or "Conversation", "messages": messages, "asked": asked,
                  "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        saved = [record, *[c for c in saved if c.get("id") != open_id]][:MAX_CONVERSATIONS]
        return saved, open_id, Conversations.titles(saved)

    @staticmethod
    def restore(saved: list[dict[str, Any]] | None, open_id: str) -> tuple[Any, ...]:
        record = next((c for c in saved or [] if isinstance(c, dict) and c.get("id") == open_id), None)
        if record is None:
            return [], [], "", Conversations.titles(saved)
        return record.get("messages", []), record.get("asked", []), open_id, Conversations.titles(saved)

    @staticmethod
    def open(index: int, saved: list[dict[str, Any]] | None) -> tuple[Any, ...]:
        saved = saved or []
        if not isinstance(index, int) or not 0 <= index < len(saved):
            return gr.skip(), gr.skip(), gr.skip()
        c = saved[index]
        return c.get("messages", []), c.get("asked", []), c.get("id", "")


def build_app(library: Library, access: Access) -> gr.Blocks:
    """The chat's page: the conversations' side panel, a header with the index in use, then the
    Chat and Collection tabs; and `/chat` in Gradio's API."""
    chat = Chat(library)
    actions = Collection(library, access)
    # Uploaded files older than 10 minutes are removed every minute (and all of them at shutdown).
    with gr.Blocks(title="Ask the articles", delete_cache=(60, 600)) as demo:
        saved = gr.BrowserState([], storage_key="qa-conversations", secret=BROWSER_KEY)
        open_id = gr.BrowserState("", storage_key="qa-open-conversation", secret=BROWSER_KEY)
        asked, logged_in, seen = gr.State([]), gr.State(False), gr.State(None)
        # Open beside the chat on a wide screen; on a phone it would cover the chat: closed there.
        with gr.Sidebar(label="Conversations", open=False, elem_id="qa-sidebar") as sidebar:
            new_chat = gr.Button("New chat", variant="primary", elem_id="qa-new-chat")
            past = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[], type="index", layout="table",
                              label="Past chats", elem_id="qa-past-chats", samples_per_page=15)
        gr.Markdown("## Ask the articles")
        gr.Markdown("Questions in French or English; every answer quotes its sources.", elem_classes=["qa-intro"])
        header = gr.Markdown(elem_id="qa-header")
        with gr.Tab("Chat"):
            chatbot, box, choices = chat_tab(chat, asked, saved, open_id, past)
        with gr.Tab("Collection") as collection:
            table = collection_tab(actions, header, logged_in)
        new_chat.click(lambda: ([], [], "", ""), None, [chatbot, asked, box, open_id], api_visibility="private")
        past.click(Conversations.open, [past, saved], [chatbot, asked, open_id], api_visibility="private")
        demo.load(Conversations.restore, [saved, open_id], [chatbot, asked, open_id, past], api_visibility="private")
        width = gr.Number(visible=False)
        demo.load(lambda w: gr.Sidebar(open=(w or 0) > 900), [width], [sidebar], js="() => [window.innerWidth]", api_visibility="private")
        refresh_events(demo, actions, collection, [header, table, *choices, seen])
        gr.api(chat.api, api_name="chat")
    return demo


def refresh_events(demo: gr.Blocks, actions: Collection, tab: Any, outputs: list[Any]) -> None:
    """The collection as it is on every page load, on opening the Collection tab, and within a
    few seconds of any change (this page, another, the API, the command)."""
    seen = outputs[-1]
    demo.load(actions.refresh, [gr.State(None)], outputs, api_visibility="private")
    tab.select(actions.refresh, [gr.State(None)], outputs, api_visibility="private", show_progress="hidden")
    gr.Timer(REFRESH_S).tick(actions.refresh, [seen], outputs, api_visibility="private", show_progress="hidden")


def chat_tab(chat: Chat, asked: Any, saved: Any, open_id: Any, past: Any) -> tuple[Any, Any, list[Any]]:
    """The Chat tab's components and events, inside the tab being built; returns the chatbot, the
    question box and the Ask-within lists of articles and sources (refreshed with the collection)."""
    chatbot = gr.Chatbot(
        height=520,
        elem_id="qa-chat",
        show_label=False,
        sanitize_html=True,
        render_markdown=False,
        latex_delimiters=[],
        buttons=["copy"],  # per message; no share (Hugging Face only) and no copy-all (HTML)
        placeholder="Ask about the articles, e.g. “Combien Microsoft va-t-il investir au Japon ?”",
    )
    with gr.Row(equal_height=True):
        box = gr.Textbox(placeholder="Your question…", show_label=False, scale=8, elem_id="qa-input", max_lines=6, autofocus=True)
        send = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="qa-send")
    with gr.Accordion(ANYWHERE, open=False, elem_id="qa-within") as within:
        with gr.Row():
            docs = gr.Dropdown(label="Articles", multiselect=True, choices=[], scale=3, elem_id="qa-within-docs")
            source = gr.Dropdown(label="Source (publisher or site)", choices=[], allow_custom_value=True, value=None, scale=2, elem_id="qa-within-source")
        with gr.Row():
            since = gr.DateTime(label="Since", include_time=False, type="string", elem_id="qa-within-since")
            until = gr.DateTime(label="Until", include_time=False, type="string", elem_id="qa-within-until")
            reset = gr.Button("Ask all articles", size="sm", elem_id="qa-within-reset")
    with gr.Row():
        export = gr.Button("Export this chat (Markdown)", size="sm", elem_id="qa-export")
    gr.Examples(EXAMPLES, inputs=box, label="Examples")
    choice = [docs, source, since, until]
    for trigger in (box.submit, send.click):
        trigger(chat.respond, [box, chatbot, asked, *choice], [chatbot, asked, box], api_visibility="private").then(
            Conversations.save, [chatbot, asked, saved, open_id], [saved, open_id, past], api_visibility="private"
        )
    gr.on([d.change for d in choice], lambda *c: gr.Accordion(label=choice_label(chat.library, *c)), choice, [within], api_visibility="private", show_progress="hidden")
    reset.click(lambda: ([], None, None, None), None, choice, api_visibility="private")
    export.click(None, [chatbot], None, js=EXPORT_JS)
    return chatbot, box, [docs, source]


def choice_label(library: Library, *choice: Any) -> str:
    try:
        f = choice_of(*choice)
    except qa.QuestionError as exc:
        return f"Ask within: {exc}"
    return f"Asking within: {within_words(library, f)}" if f else ANYWHERE


def collection_rows(library: Library) -> list[list[Any]]:
    """The collection as the table shows it, newest first: a box to tick, the title (a link to the
    article), outlet, date, when it was added, passages."""
    rows = []
    for a in library.collection():
        title = Markup('<a href="{}" target="_blank" rel="noopener">{}</a>').format(article_link(a["id"]), a.get("title") or a["id"])
        passages = a.get("passages")
        rows.append([False, str(title), a.get("source", ""), a.get("date", ""), (a.get("added") or "")[:16].replace("T", " "), "not yet" if passages is None else passages])
    return rows


def ticked_ids(table: Any) -> list[str]:
    """The ids of the rows ticked in the table (read from each title's link)."""
    rows = table.values.tolist() if hasattr(table, "values") else list(table or [])
    ids = []
    for row in rows:
        if len(row) > 1 and (row[0] is True or str(row[0]).lower() == "true"):
            found = re.search(r'href="articles/([^"?#]+)', str(row[1]))
            if found:
                ids.append(unquote(found.group(1)))
    return ids


class Collection:
    """The Collection tab's actions: log in, add files or links, remove the articles ticked (once
    confirmed), update the index, and refresh what the page shows. Each write answers with a status
    line and the refreshed table and header; writes follow `access`."""

    def __init__(self, library: Library, access: Access) -> None:
        self.library, self.access = library, access

    def shown(self, lines: list[str], *rest: Any) -> tuple[Any, ...]:
        """What an action answers: its status lines, the refreshed table and header, then `rest`."""
        return render_status(lines), collection_rows(self.library), self.library.header(), *rest

    def refresh(self, seen: Any) -> tuple[Any, ...]:
        """Header, table and the Ask-within choices, when the collection or the index changed
        since this page last showed them (`seen`); else nothing is sent."""
        version = self.library.version()
        self.library.follow_switches()
        if seen is not None and seen == version:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        articles = self.library.articles()
        docs = sorted(((f"{short(a.get('title', a['id']))} — {a.get('source') or '?'}, {a.get('date') or '?'}", a["id"]) for a in articles), key=lambda c: c[0].lower())
        sources = sorted({a.get("source") for a in articles if a.get("source")})
        return self.library.header(), collection_rows(self.library), gr.Dropdown(choices=docs), gr.Dropdown(choices=sources), version

    def login(self, user: str, _password: str, request: gr.Request) -> tuple[bool, str]:
        # The page's script has just logged in through /api/login, which checks the password, counts
        # failures per client and sets the session cookie: the cookie alone decides here, so that
        # this handler, reachable through Gradio's queue too, cannot be used to guess passwords.
        http = request.request
        if http is not None and self.access.has_session(dict(http.cookies)):
            return True, render_status(["Logged in: you can add articles and update the index."])
        try:
            self.access.throttle.check(client_address(http.scope) if http is not None else "")
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
                return self.shown([self.access.notice()], None)
            if not files:
                return self.shown(["Choose files to add first: saved web pages (.html), PDFs, feeds (.xml, .rss, .atom), .txt or .md."], None)
            lines = [f"- refused {Path(f).name}: not a file uploaded to this server" for f in files if f not in received]
            more, added = add_files(self.library, received)
            if added:
                more.append(self.library.update_status(progress))
            return self.shown(lines + more, None)
        finally:
            for f in received:
                Path(f).unlink(missing_ok=True)  # Gradio's copy: the article is in the seeds folder now

    def add_links(self, text: str, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not self.access.may_write(logged_in):
            return self.shown([self.access.notice()], text)
        items = [u.strip() for u in (text or "").splitlines() if u.strip()]
        if not items:
            return self.shown(["Paste one or more links first."], text)
        # qa.add reads anything else as a path on the server: the box takes web links only.
        urls = [u for u in items if is_web_link(u)]
        lines = [f"- refused {u}: only http:// and https:// links can be added" for u in items if u not in urls]
        more, added = add_files(self.library, urls)
        if added:
            more.append(self.library.update_status(progress))
        return self.shown(lines + more, "")

    def confirm_removal(self, table: Any, logged_in: bool) -> tuple[Any, ...]:
        """Ask before removing: which articles (by title) are ticked; nothing is removed yet."""
        ids = ticked_ids(table)
        if not self.access.may_write(logged_in):
            return render_status([self.access.notice()]), [], gr.Row(visible=False), ""
        if not ids:
            return render_status(["Tick the articles to remove in the table first."]), [], gr.Row(visible=False), ""
        titles = {a["id"]: a.get("title") or a["id"] for a in self.library.collection()}
        named = "; ".join(f"“{short(titles.get(i, i))}”" for i in ids)
        question = f"Remove {len(ids)} article(s) from the collection? {named}. The chat stops citing them once the index is updated."
        return "", ids, gr.Row(visible=True), question

    def remove(self, ids: list[str], logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        hidden = gr.Row(visible=False)
        if not self.access.may_write(logged_in):
            return *self.shown([self.access.notice()]), [], hidden
        titles = {a["id"]: a.get("title") or a["id"] for a in self.library.collection()}
        present = [i for i in ids or [] if i in titles]
        if not present:
            return *self.shown(["Those articles are no longer in the collection."]), [], hidden
        try:
            removed = qa.remove(present, self.library.settings)
        except qa.SourceError as exc:
            return *self.shown([public_message(str(exc), self.library.settings)]), [], hidden
        lines = [f"Removed {len(removed)} article(s): " + "; ".join(f"“{short(titles[i])}”" for i in removed) + "."]
        return *self.shown([*lines, self.library.update_status(progress)]), [], hidden

    def rebuild(self, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not self.access.may_write(logged_in):
            return self.shown([self.access.notice()])
        return self.shown([self.library.update_status(progress)])


def collection_tab(actions: Collection, header: Any, logged_in: Any) -> Any:
    """The Collection tab's components and events, inside the tab being built; returns the table."""
    gr.Markdown(actions.access.notice(), elem_id="qa-access")
    with gr.Row(visible=actions.access.remote and actions.access.login_possible):
        user = gr.Textbox(label="User", scale=2, elem_id="qa-user")
        password = gr.Textbox(label="Password", type="password", scale=2, elem_id="qa-password")
        login_btn = gr.Button("Log in", scale=1, elem_id="qa-login")
    writable = actions.access.may_write(False) or actions.access.login_possible
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            files = gr.File(
                label=(
                    "Add articles: saved web pages (.html), PDFs, RSS/Atom feeds, .txt or .md, "
                    f"up to {actions.library.settings.max_article_bytes // 1000:,} kB each"
                ),
                file_count="multiple", file_types=list(UPLOAD_TYPES), type="filepath", interactive=writable, height=140, elem_id="qa-files",
            )
            with gr.Row():
                add_btn = gr.Button("Add and update the index", variant="primary", interactive=writable, elem_id="qa-add")
                rebuild_btn = gr.Button("Update the index", interactive=writable, elem_id="qa-rebuild")
        with gr.Column(scale=2):
            links = gr.Textbox(label="Or links to pages or feeds (http/https), one per line", lines=3, interactive=writable, elem_id="qa-links")
            links_btn = gr.Button("Add links", interactive=writable, elem_id="qa-add-links")
    status = gr.HTML(elem_id="qa-status")
    table = gr.Dataframe(
        headers=["", "title", "source", "date", "added", "passages"],
        datatype=["bool", "html", "str", "str", "str", "str"],
        static_columns=[1, 2, 3, 4, 5],
        interactive=writable,
        type="array",
        wrap=True,
        show_search="search",
        column_widths=["52px", "38%", "18%", "11%", "15%", "12%"],
        max_height=620,
        elem_id="qa-articles",
    )
    remove_btn = gr.Button("Remove the ticked articles…", variant="stop", size="sm", interactive=writable, elem_id="qa-remove")
    pending = gr.State([])
    with gr.Row(visible=False, elem_id="qa-confirm") as confirm:
        question = gr.Markdown()
        yes = gr.Button("Yes, remove them", variant="stop", scale=0, elem_id="qa-remove-yes")
        no = gr.Button("Cancel", scale=0, elem_id="qa-remove-no")
    login_btn.click(actions.login, [user, password], [logged_in, status], api_visibility="private", js=LOGIN_JS)
    add_btn.click(actions.upload, [files, logged_in], [status, table, header, files], api_name="upload", concurrency_limit=1)
    links_btn.click(actions.add_links, [links, logged_in], [status, table, header, links], api_name="add_links", concurrency_limit=1)
    remove_btn.click(actions.confirm_removal, [table, logged_in], [status, pending, confirm, question], api_visibility="private")
    yes.click(actions.remove, [pending, logged_in], [status, table, header, pending, confirm], api_visibility="private", concurrency_limit=1)
    no.click(lambda: ([], gr.Row(visible=False)), None, [pending, confirm], api_visibility="private")
    rebuild_btn.click(actions.rebuild, [logged_in], [status, table, header], api_name="rebuild", concurrency_limit=1)
    return table
