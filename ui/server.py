"""Settings and an address to listen on → the whole web server: the JSON API under /api and the
chat at /, behind the guards that refuse what no route may see; `serve()` runs it (`qa serve`).

Two plain ASGI wrappers stand in front of every route, Gradio's included: SiteGuard (host names,
other sites' writes, unknown Gradio functions) and UploadGuard (Gradio's upload route takes files
only from who may write). Failures are the JSON API's `{"error": ...}` answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Headers

import qa
from ui.access import Access, TooManyFailures, host_served, is_loopback, same_origin, served_names, split_host
from ui.api import api_router, error, may_write, too_many
from ui.app import APP_CSS, APP_HEAD, build_app
from ui.library import Library, trim_folder
from ui.pages import pages_router

# Gradio keeps uploads in its temporary folder until they are handled; this bounds what it may
# hold at once (the oldest go first).
UPLOAD_SPACE_BYTES = 100_000_000
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Gradio's routes that name the function to run by its fn_index in a JSON body.
FN_INDEX_ROUTES = re.compile(r"/gradio_api/(?:queue/join|api/[^/]+)/?$")
MAX_FN_BODY_BYTES = 1_000_000  # larger bodies go to Gradio unchecked (its own limits apply)


class UploadGuard:
    """Gradio's upload route stores any file it is sent: here it takes files only from who may write.

    A plain ASGI wrapper, so that every other request (the chat's event streams above all) passes
    straight through, without the copying of Starlette's BaseHTTPMiddleware."""

    def __init__(self, app: Any, access: Access, upload_dir: Path | None) -> None:
        self.app, self.access, self.upload_dir = app, access, upload_dir

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/upload"):
            try:
                allowed = may_write(self.access, Request(scope))
            except TooManyFailures as exc:
                await too_many(exc)(scope, receive, send)
                return
            if not allowed:
                await error(403, self.access.notice().replace("**", ""))(scope, receive, send)
                return
            if self.upload_dir is not None:
                trim_folder(self.upload_dir, UPLOAD_SPACE_BYTES)
        await self.app(scope, receive, send)


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
        headers = Headers(scope=scope)
        refusal = self.refusal(scope["method"], headers)
        if refusal is None and scope["method"] == "POST" and FN_INDEX_ROUTES.search(scope["path"]):
            refusal, receive = await self.unknown_function(receive)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, method: str, headers: Any) -> Any:
        host = headers.get("host", "")
        parsed = split_host(host)
        if parsed is None or not host_served(parsed[0], self.names):
            return error(400, f"this server does not answer to the host name {host!r}; its operator can add it to QA_ALLOWED_HOSTS")
        source = headers.get("origin") or headers.get("referer")
        if method in UNSAFE_METHODS and source is not None and not same_origin(source, host):
            return error(403, "refused: this request comes from a page of another site")
        return None

    async def unknown_function(self, receive: Any) -> tuple[Any, Any]:
        """Read the body (then handed on as it came) and refuse a fn_index Gradio does not have."""
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
            return error(404, f"no function {fn_index} in this app (GET /gradio_api/info lists them)"), replayed
        return None, replayed


def api_server(library: Library, access: Access) -> FastAPI:
    """The FastAPI app with the JSON API, whose every answer stays JSON, failures included."""
    # Swagger UI's files come from an installed package (fastapi-offline), not a CDN: the
    # documentation page works offline like the rest.
    server = FastAPIOffline(
        title="Ask the articles", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json", static_url="/api/docs-files"
    )
    server.include_router(api_router(library, access))
    server.include_router(pages_router(library))

    @server.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return error(422, problems)

    @server.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        # The API's answer stays JSON; the traceback goes to the log only.
        return error(500, "internal error; the server log has the details")

    return server


def create_server(
    settings: qa.Settings, host: str = "127.0.0.1", retriever: qa.Retriever | None = None, public: bool = False, sync_every_s: float = 0
) -> Any:
    """The whole web server as one ASGI app: the JSON API under /api, the chat at /; with
    `sync_every_s`, the feeds polled in the background (ui/feeds.py)."""
    library = Library(settings, retriever)
    if sync_every_s > 0:
        from ui.feeds import start_syncing

        start_syncing(library, sync_every_s)
    access = Access.for_host(host, public=public)
    server = api_server(library, access)
    upload_dir = Path(os.environ["GRADIO_TEMP_DIR"]) if os.environ.get("GRADIO_TEMP_DIR") else None

    demo = build_app(library, access)
    demo.queue(default_concurrency_limit=8, max_size=256)
    # No run history: the server would keep every question asked in memory, for a page we do not show.
    app = gr.mount_gradio_app(
        server, demo, path="/", max_file_size=settings.max_article_bytes, footer_links=["api"], show_error=True, run_history=False,
        css=APP_CSS, head=APP_HEAD,
    )
    # launch() marks the app launched and mount_gradio_app does not; until it is, Gradio skips its
    # check that a file named in a request was uploaded through it, so that any file of the
    # server could be named (and handed to our upload handler as an upload).
    demo.has_launched = True
    names = served_names(host, os.environ.get("QA_ALLOWED_HOSTS", ""))
    return SiteGuard(UploadGuard(app, access, upload_dir), names, set(demo.fns))


def serve(
    settings: qa.Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    retriever: qa.Retriever | None = None,
    public: bool = False,
    sync_every_s: float = 0,
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
        app = create_server(settings, host, retriever, public, sync_every_s)
        print(f"* serving the chat on http://{host}:{port}/ and the JSON API on http://{host}:{port}/api/docs", flush=True)
        if public or not is_loopback(host):
            names = ", ".join(f"[{n}]" if ":" in n else n for n in served_names(host, os.environ.get("QA_ALLOWED_HOSTS", "")))
            print(f"* answering requests addressed to {names} only (QA_ALLOWED_HOSTS adds names)", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
