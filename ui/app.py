"""A Library and an Access → the web chat (Gradio Blocks): ask the articles, read the cited
passages, manage the collection.

Two tabs: Chat, whose answers are HTML from ui/render.py (Gradio's Chatbot shows them as sanitised
HTML, Markdown and LaTeX off), and Collection, whose writes follow the Access's rule. Programs call
`/chat` through Gradio's API; ui/api.py serves the JSON API and ui/server.py mounts both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

import qa
from ui.access import Access, TooManyFailures, client_address
from ui.library import Library, add_files, is_web_link, public_message, upload_folder, uploaded_here
from ui.render import render_answer, render_status, text_html

log = logging.getLogger(__name__)

EXAMPLES = [
    "Combien Microsoft va-t-il investir au Japon ?",
    "How much will Amazon Web Services invest in Japan, and by when?",
    "Quelles entreprises japonaises recevront des GPU de NVIDIA ?",
    "Who is the president of Microsoft quoted in the announcement?",
]
INTERNAL_ERROR = "Sorry: something went wrong on the server while answering; the server log has the details."
UPLOAD_TYPES = (".html", ".htm", ".pdf", ".xml", ".rss", ".atom", ".txt", ".md")

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


class Chat:
    """The Chat tab's actions: answer a question in the light of the conversation's earlier ones,
    and `/chat`, one question at a time, for programs."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def respond(self, message: Any, history: list[dict[str, Any]], asked: list[str]) -> Iterator[tuple[Any, ...]]:
        question = message.strip() if isinstance(message, str) else ""
        if not question:
            gr.Warning("Type a question about the articles first.")
            yield history, asked, ""
            return
        history = [*history, {"role": "user", "content": str(text_html(question))}]
        try:
            a = self.library.answer(question, asked)
        except qa.QAError as exc:
            history.append({"role": "assistant", "content": str(text_html(f"Sorry: {exc}"))})
            yield history, asked, ""
            return
        except Exception:
            log.exception("answering %r failed", question[:200])
            history.append({"role": "assistant", "content": str(text_html(INTERNAL_ERROR))})
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

    def api(self, question: str) -> str:
        """Answer one question; returns the answer text with its [n] markers and numbered sources."""
        try:
            return self.library.answer(question).full_text()
        except qa.QAError as exc:
            raise gr.Error(str(exc)) from None
        except Exception:
            log.exception("answering through /chat failed")
            raise gr.Error(INTERNAL_ERROR) from None


class Collection:
    """The Collection tab's actions: log in, add files or links, remove articles, update the index.
    Each answers with a status line and the refreshed table and header; writes follow `access`."""

    def __init__(self, library: Library, access: Access) -> None:
        self.library, self.access = library, access

    def shown(self, lines: list[str], *rest: Any) -> tuple[Any, ...]:
        """What an action answers: its status lines, the refreshed table and header, then `rest`."""
        return render_status(lines), self.library.article_rows(), self.library.header(), *rest

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
                return self.shown(["Choose one or more .txt or .md files first."], None)
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

    def remove(self, text: str, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not self.access.may_write(logged_in):
            return self.shown([self.access.notice()], text)
        ids = [i.strip() for i in (text or "").replace(",", "\n").splitlines() if i.strip()]
        if not ids:
            return self.shown(["Type the ids of the articles to remove first."], text)
        try:
            removed = qa.remove(ids, self.library.settings)
        except qa.SourceError as exc:
            return self.shown([public_message(str(exc), self.library.settings)], text)
        return self.shown([f"Removed {', '.join(removed)}.", self.library.update_status(progress)], "")

    def rebuild(self, logged_in: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not self.access.may_write(logged_in):
            return self.shown([self.access.notice()])
        return self.shown([self.library.update_status(progress)])


def build_app(library: Library, access: Access) -> gr.Blocks:
    """The chat's page: a header with the index in use, then the Chat and Collection tabs; and
    `/chat` in Gradio's API."""
    chat = Chat(library)
    # Uploaded files older than 10 minutes are removed every minute (and all of them at shutdown).
    with gr.Blocks(title="Ask the articles", delete_cache=(60, 600)) as demo:
        gr.Markdown("## Ask the articles\nQuestions in French or English; every answer quotes its sources.")
        header = gr.Markdown(library.header(), elem_id="qa-header")
        asked = gr.State([])
        logged_in = gr.State(False)
        with gr.Tab("Chat"):
            chat_tab(chat, asked)
        with gr.Tab("Collection"):
            collection_tab(Collection(library, access), header, logged_in)
        gr.api(chat.api, api_name="chat")
    return demo


def chat_tab(chat: Chat, asked: Any) -> None:
    """The Chat tab's components and events, inside the tab being built."""
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
        trigger(chat.respond, [box, chatbot, asked], [chatbot, asked, box], api_visibility="private")
    clear.click(lambda: ([], [], ""), None, [chatbot, asked, box], api_visibility="private")


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
