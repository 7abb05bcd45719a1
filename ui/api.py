"""HTTP requests → JSON answers: the API for programs, served beside the chat on the same port
(OpenAPI page: /api/docs).

The same checks as the chat: a question must be text, writes (adding articles, updating the
index) follow the same login rule, and every failure is a JSON `{"error": ...}` with a status code
that says whose fault it is: 400/422 the request's, 401/403 the credentials', 429 too many failed
logins from the client's address, 503 the index's (a build that could not be written included).
Articles are listed without their paths on the server, and messages name no server folder.
Built on ui/library.py and ui/access.py only: the API does not depend on the chat.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import qa
from ui.access import SESSION_COOKIE, Access, TooManyFailures, client_address
from ui.library import Library, UpdateFailed, add_files, public_message

log = logging.getLogger(__name__)

# Far more than any question: the answer reads the first 2,000 characters (QA_MAX_QUERY_CHARS).
MAX_BODY_CHARS = 100_000


class Within(BaseModel):
    """Ask within: only these articles (ids, as /api/articles gives them), this source (publisher,
    its initials or its site) and these dates (YYYY-MM-DD, YYYY-MM or YYYY). All optional."""

    doc_ids: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=1000)
    source: str = Field("", max_length=200, examples=["AFP"])
    since: str = Field("", max_length=10, examples=["2024-04-01"])
    until: str = Field("", max_length=10, examples=[""])

    def filters(self) -> qa.Filters | None:
        """The choice as qa.Filters (None when empty); QuestionError (400) for a bad value."""
        return qa.Filters(tuple(self.doc_ids), self.source, self.since, self.until) or None


class AskRequest(Within):
    question: str = Field(max_length=MAX_BODY_CHARS, examples=["Combien Microsoft va-t-il investir au Japon ?"])
    # The user's earlier questions, oldest first: a follow-up ("Et AWS ?") is read in their light.
    history: list[Annotated[str, Field(max_length=MAX_BODY_CHARS)]] = Field(default_factory=list, max_length=20)


class Credentials(BaseModel):
    user: str = Field(max_length=200)
    password: str = Field(max_length=200)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def too_many(exc: TooManyFailures) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})


def failure(exc: Exception) -> JSONResponse:
    if isinstance(exc, qa.QuestionError):
        return error(400, str(exc))
    if isinstance(exc, qa.QAError):
        return error(503, str(exc))
    log.exception("the JSON API failed")
    return error(500, "internal error while answering; the server log has the details")


def may_write(access: Access, request: Request) -> bool:
    """Whether an HTTP request may write, by its session cookie or HTTP Basic credentials (raises
    TooManyFailures for a client that failed to log in too often)."""
    return access.request_may_write(dict(request.cookies), request.headers.get("authorization", ""), client_address(request.scope))


def write_refusal(access: Access, request: Request) -> JSONResponse | None:
    """None when the request may write; else the answer that says why not."""
    try:
        if may_write(access, request):
            return None
    except TooManyFailures as exc:
        return too_many(exc)
    if not access.login_possible:
        return error(403, "writing is disabled: this server is open beyond loopback and no credentials are set")
    return JSONResponse({"error": "log in first (POST /api/login) or send HTTP Basic credentials"}, 401,
                        headers={"WWW-Authenticate": 'Basic realm="newsqa"'})


def save_uploads(files: list[UploadFile], folder: Path, limit: int) -> list[str]:
    """The uploaded files written under `folder`, each in a folder of its own under its own name
    (only the name's last part: qa.add_article sanitises it further); at most `limit` + 1 bytes
    of each, so that qa.add sees and refuses one too large."""
    paths = []
    for n, f in enumerate(files):
        data = f.file.read(limit + 1)
        (folder / str(n)).mkdir()
        name = Path((f.filename or "").replace("\\", "/")).name
        path = folder / str(n) / (name if name not in ("", ".", "..") else "upload")
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def api_router(library: Library, access: Access) -> APIRouter:
    """The routes under /api: reading (ask, search, list), logging in, writing (update, add, remove)."""
    router = APIRouter(prefix="/api")
    reading_routes(router, library)
    login_route(router, access)
    writing_routes(router, library, access)
    return router


def reading_routes(router: APIRouter, library: Library) -> None:
    """Questions, searches and the list of articles: open to every client."""

    @router.post("/ask", summary="Answer a question, with citations (offsets into the articles) and a confidence; "
                 "doc_ids, source, since and until answer within those articles only")
    def ask(body: AskRequest) -> Any:
        try:
            return library.answer(body.question, body.history, body.filters()).to_dict()
        except Exception as exc:
            return failure(exc)

    @router.get("/search", summary="The passages that best match a query, best first; doc_ids (repeated), source, "
                "since and until search within those articles only")
    def search(
        q: Annotated[str, Query(max_length=MAX_BODY_CHARS)],
        within: Annotated[Within, Query()],
        k: Annotated[int, Query(ge=1, le=100)] = 5,
    ) -> Any:
        try:
            return {"query": q, "hits": [h.to_dict() for h in library.search(q, k, within.filters())]}
        except Exception as exc:
            return failure(exc)

    @router.get("/articles", summary="The articles in the index, with their metadata and passage counts")
    def articles() -> Any:
        # Without "path": where the server keeps its files is not the caller's business.
        return {"manifest": {k: library.retriever.manifest.get(k) for k in ("model_id", "built_at", "counts")},
                "articles": [{k: v for k, v in a.items() if k != "path"} for a in library.articles()]}


def login_route(router: APIRouter, access: Access) -> None:
    """A session cookie for the right credentials; the client's failures counted."""

    @router.post("/login", summary="Open a session for writing (sets an HTTP-only cookie); 429 after 10 failures from one address")
    def login(body: Credentials, request: Request) -> Any:
        if not access.remote:
            return {"ok": True, "detail": "served on loopback: writing needs no login"}
        if not access.login_possible:
            return error(403, access.notice().replace("**", ""))
        try:
            if not access.attempt(client_address(request.scope), body.user, body.password):
                return error(401, "wrong user name or password")
        except TooManyFailures as exc:
            return too_many(exc)
        response = JSONResponse({"ok": True})
        response.set_cookie(SESSION_COOKIE, access.new_session(), httponly=True, samesite="strict")
        return response


def writing_routes(router: APIRouter, library: Library, access: Access) -> None:
    """Updating the index, adding and removing articles: each refused unless `access` allows the request."""

    @router.post("/index", summary="Update the index from the seeds folder (needs a login beyond loopback)")
    def update_index(request: Request) -> Any:
        refused = write_refusal(access, request)
        if refused is not None:
            return refused
        try:
            return {"status": library.rebuild()}
        except UpdateFailed as exc:
            return error(503, str(exc))

    @router.post("/articles", summary="Add web pages, PDFs, feeds, .txt or .md articles, then update the index (needs a login beyond loopback)")
    def add_articles(request: Request, files: Annotated[list[UploadFile], File()]) -> Any:
        refused = write_refusal(access, request)
        if refused is not None:
            return refused
        with tempfile.TemporaryDirectory(prefix="qa-api-upload-") as tmp:
            lines, added = add_files(library, save_uploads(files, Path(tmp), library.settings.max_article_bytes))
        if added:
            try:
                lines.append(library.rebuild())
            except UpdateFailed as exc:
                return error(503, f"{added} article(s) stored, but the index was not updated (the previous one still answers): {exc.reason}")
        return {"added": added, "status": lines}

    @router.delete("/articles/{article_id}", summary="Remove an article, then update the index (needs a login beyond loopback)")
    def remove_article(article_id: str, request: Request) -> Any:
        refused = write_refusal(access, request)
        if refused is not None:
            return refused
        try:
            removed = qa.remove([article_id], library.settings)
        except qa.SourceError as exc:
            return error(404, public_message(str(exc), library.settings))
        try:
            return {"removed": removed, "status": library.rebuild()}
        except UpdateFailed as exc:
            return error(503, f"{article_id} removed, but the index was not updated (it still has it): {exc.reason}")
