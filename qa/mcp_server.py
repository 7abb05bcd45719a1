"""`qa mcp`: the articles as Model Context Protocol tools, for AI assistants and IDEs.

Built on the official Python SDK (`mcp`, version 2: MCPServer). stdio by default, the transport a
desktop assistant launches; streamable HTTP on 127.0.0.1 with `--http PORT` (at /mcp, with the
SDK's DNS-rebinding protection for loopback). The tools:

- `ask`: a question (and the earlier questions of the conversation) → the answer, its short
  answer, confidence, whether it abstained, and numbered citations (title, outlet, date, link,
  article id and the character offsets of the quoted passage);
- `search`: a query and k → the best passages, with the same citation data;
- `list_articles`: the collection;
- `add_article` (only with `--allow-writes`): a link fetched, stored and indexed as `qa add` does.

The index is loaded once per server (again after an `add_article`). Every failure reaches the
client as a tool error of one line (our errors' messages, an argument's problem), never a
traceback. Needs `pip install 'newsqa[mcp]'`; nothing else in `qa` imports the SDK.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field, ValidationError

from qa.config import Settings
from qa.errors import QAError
from qa.retrieval import Hit, Retriever, readable

NAME = "news"
INSTRUCTIONS = (
    "Answers questions about a collection of news articles (French and English) with sentences quoted from them. "
    "Cite the numbered sources you use, with their titles and links; when `abstained` is true the articles do not say."
)
MAX_CHARS = 100_000  # as the JSON API: far more than any question (the first 2,000 characters are read)
T = TypeVar("T")
log = logging.getLogger(__name__)


class Citation(BaseModel):
    n: int = Field(description="The number the answer's [n] markers refer to")
    title: str
    source: str = Field(description="The outlet that published the article")
    date: str = Field(description="The article's date, ISO 8601, when known")
    url: str = Field(description="The article's link, when it came from one")
    doc_id: str = Field(description="The article's id in the collection")
    start: int = Field(description="Where the passage starts in the article's text (characters)")
    end: int = Field(description="Where it ends")
    text: str = Field(description="The passage: the article's text from start to end")
    score: float = Field(description="How well the passage matches, higher is better")


class AskResult(BaseModel):
    question: str
    answer: str = Field(description="The quoted sentences with their [n] markers, or why the articles cannot answer")
    short_answer: str | None = Field(description="The words that answer, when the reader is sure enough of them")
    confidence: float = Field(description="How likely the answer is right, 0 to 1")
    abstained: bool = Field(description="True when the articles do not answer the question")
    citations: list[Citation]


class SearchResult(BaseModel):
    query: str
    passages: list[Citation]


class ArticleRow(BaseModel):
    id: str
    title: str
    source: str
    author: str
    date: str
    url: str
    passages: int | None = Field(description="Passages indexed; null when not indexed yet")
    added: str


class ArticleList(BaseModel):
    articles: list[ArticleRow]


class AddResult(BaseModel):
    added: list[str] = Field(description="The ids of the articles added")
    already: list[str] = Field(description="The ids of articles the link was already stored as")
    index: str = Field(description="The index update's summary")


def citation(n: int, hit: Hit) -> Citation:
    return Citation(
        n=n, title=hit.title, source=hit.source, date=hit.date, url=hit.url, doc_id=hit.doc_id,
        start=hit.start, end=hit.end, text=hit.text, score=round(hit.score, 4),
    )  # fmt: skip


def one_line(exc: BaseException) -> str:
    """What failed, in one line: our errors' messages, an argument's problem, or the kind of failure."""
    cause = exc.__cause__
    if isinstance(exc, ToolError) and isinstance(cause, ValidationError):
        prefix = str(exc).split(":", 1)[0]
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in cause.errors())
        return f"{prefix}: {problems}"
    return readable(" ".join(str(exc).split()))


class Library:
    """The index in force, loaded once and swapped whole after a write; answers at most one per core
    at a time, as the web server does."""

    def __init__(self, settings: Settings, retriever: Retriever | None = None) -> None:
        self.settings = settings
        self.retriever = retriever or Retriever.load(settings.index_dir, settings)
        self.turns = threading.BoundedSemaphore(os.cpu_count() or 1)
        self.writing = threading.Lock()

    def run(self, step: Callable[[Retriever], T]) -> T:
        """A tool's work; a failure becomes a ToolError of one line."""
        try:
            with self.turns:
                return step(self.retriever)
        except ToolError:
            raise
        except QAError as exc:
            raise ToolError(readable(str(exc))) from None
        except OSError as exc:
            raise ToolError(f"{exc.strerror or exc}") from None
        except Exception as exc:
            # The client gets one line; QA_DEBUG=1 puts the traceback in the server's log, as for the command.
            log.warning("a tool failed unexpectedly", exc_info=bool(os.environ.get("QA_DEBUG")))
            raise ToolError(f"unexpected {type(exc).__name__}: {one_line(exc)} (QA_DEBUG=1 logs where)") from None


class NewsServer(MCPServer):
    """MCPServer whose tool errors are one line, those of the arguments' validation included."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            raise ToolError(one_line(exc)) from exc.__cause__


def build_server(settings: Settings, retriever: Retriever | None = None, allow_writes: bool = False) -> NewsServer:
    library = Library(settings, retriever)
    server = NewsServer(NAME, instructions=INSTRUCTIONS, log_level="WARNING")
    add_read_tools(server, library)
    if allow_writes:
        add_write_tools(server, library)
    return server


Question = Annotated[str, Field(max_length=MAX_CHARS, description="The question, in French or English")]
History = Annotated[
    list[Annotated[str, Field(max_length=MAX_CHARS)]],
    Field(max_length=20, description="The user's earlier questions in this conversation, oldest first: a follow-up is read in their light"),
]


def add_read_tools(server: NewsServer, library: Library) -> None:
    from qa.answer import answer

    @server.tool()
    def ask(question: Question, history: History | None = None) -> Annotated[CallToolResult, AskResult]:
        """Answer a question from the news articles: quoted sentences with numbered citations (title, outlet, date, link,
        article id, character offsets), the short answer, a confidence, and whether the articles do not say."""
        a = library.run(lambda r: answer(question, r, history=history or ()))
        short = a.short_answer.text if a.short_answer else None
        result = AskResult(
            question=a.question, answer=a.text, short_answer=short, confidence=round(a.confidence, 4), abstained=a.abstained,
            citations=[citation(n, h) for n, h in enumerate(a.citations, 1)],
        )  # fmt: skip
        return CallToolResult(content=[TextContent(type="text", text=a.full_text())], structured_content=result.model_dump())

    @server.tool()
    def search(
        query: Annotated[str, Field(max_length=MAX_CHARS, description="What to look for")],
        k: Annotated[int, Field(ge=1, le=50, description="How many passages")] = 5,
    ) -> SearchResult:
        """The passages of the news articles that best match a query, best first, with their citation data."""
        hits = library.run(lambda r: r.search(query, k=k))
        return SearchResult(query=query, passages=[citation(n, h) for n, h in enumerate(hits, 1)])

    @server.tool()
    def list_articles() -> ArticleList:
        """The articles in the collection, newest first: id, title, outlet, author, date, link, passages indexed, when added."""
        from qa.collection import list_articles as rows

        found = library.run(lambda r: rows(library.settings))
        return ArticleList(articles=[ArticleRow(**{k: v for k, v in row.items() if k != "path"}) for row in found])


def add_write_tools(server: NewsServer, library: Library) -> None:
    @server.tool()
    def add_article(url: Annotated[str, Field(max_length=2000, description="An http(s) link to a news page or an RSS/Atom feed")]) -> AddResult:
        """Fetch a link (a news page, or a feed: one article per entry), store it in the collection and update the index."""
        return library.run(lambda r: _add(library, url))


def _add(library: Library, url: str) -> AddResult:
    from qa.collection import add
    from qa.indexing import build_index

    settings = library.settings
    with library.writing:
        added = add([url], settings)
        report = build_index(settings.seeds_dir, settings.index_dir, settings)
        library.retriever = Retriever.load(settings.index_dir, settings)
    return AddResult(
        added=[a.id for a in added if not a.duplicate_of], already=[a.duplicate_of for a in added if a.duplicate_of], index=report.summary()
    )


def serve(settings: Settings, retriever: Retriever | None = None, http: int | None = None, allow_writes: bool = False) -> None:
    """Serve until stopped: stdio, or streamable HTTP on 127.0.0.1:`http` at /mcp."""
    server = build_server(settings, retriever, allow_writes)
    if http is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=http)
