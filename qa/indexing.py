"""Build or update the index: only new or changed articles are chunked and embedded."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from qa.chunking import Passage, chunk_article, under_title
from qa.config import Settings
from qa.corpus import Article, SkippedFile, article_paths, load_articles
from qa.embedding import Embedder, load_embedder
from qa.errors import CorpusError, IndexCorruptError, IndexMissingError, IndexUnusableError
from qa.store import (
    FORMAT_VERSION,
    StoredIndex,
    article_record,
    build_lock,
    plan_for,
    read_index,
    read_manifest,
    sentence_rows_of,
    write_index,
)

log = logging.getLogger(__name__)

# Called with (passages embedded so far, passages to embed in all).
BuildProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class IndexReport:
    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]
    chunks_embedded: int
    chunks_total: int
    seconds: float
    index_dir: str
    skipped: list[SkippedFile] = field(default_factory=list)
    written: bool = True
    # Built with --cluster: passages embedded per cluster node.
    cluster_nodes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        where = f" on {len(self.cluster_nodes)} cluster node(s)" if self.cluster_nodes else ""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged; {self.chunks_embedded} of {self.chunks_total} chunks embedded{where} "
            f"in {self.seconds:.1f} s" + (f"; {len(self.skipped)} file(s) skipped" if self.skipped else "")
        )


def build_index(
    seeds_dir: Path | str | None = None,
    index_dir: Path | str | None = None,
    settings: Settings | None = None,
    rebuild: bool = False,
    progress: BuildProgress | None = None,
) -> IndexReport:
    """Bring the index in `index_dir` up to date with the articles in `seeds_dir`.

    Raises CorpusError when no article can be loaded, ClusterError when `settings.cluster` is set and
    the cluster fails; the existing index is then left as it is.
    """
    t0 = time.perf_counter()
    settings = settings or Settings.from_env()
    seeds = Path(seeds_dir) if seeds_dir is not None else settings.seeds_dir
    target = Path(index_dir) if index_dir is not None else settings.index_dir
    if not seeds.is_dir():
        raise CorpusError(f"the seeds folder {seeds} does not exist")
    if not article_paths(seeds):  # fails before the model is loaded; what the files hold is read below
        raise CorpusError(f"no article to index in {seeds}: add .txt or .md files")

    if settings.cluster:
        from qa.cluster import check_ready

        check_ready(settings.cluster)
    embedder = load_embedder(settings.model, settings.query_prompt, settings.passage_prompt)
    # One builder at a time per index: a second one waits, then finds the first one's work done.
    with build_lock(target, waiting=lambda: log.warning("waiting for another build of %s to finish", target)):
        # The articles are read under the lock: read before it, a build that waited would index
        # what the folder held when it started, undoing an add or a remove that built meanwhile.
        articles, skipped = articles_to_index(seeds, settings)
        return _build_locked(articles, skipped, target, settings, embedder, rebuild, progress, t0)


def articles_to_index(seeds: Path, settings: Settings) -> tuple[list[Article], list[SkippedFile]]:
    """The articles in the folder and the files skipped; CorpusError when there is no article."""
    articles, skipped = load_articles(seeds, settings.max_article_bytes)
    if not articles:
        detail = (
            f" ({len(skipped)} file(s) skipped: " + "; ".join(f"{s.path}: {s.reason}" for s in skipped[:5]) + ")"
            if skipped
            else ""
        )
        raise CorpusError(f"no article to index in {seeds}: add .txt or .md files{detail}")
    return articles, skipped


def _build_locked(
    articles: list[Article],
    skipped: list[SkippedFile],
    target: Path,
    settings: Settings,
    embedder: Embedder,
    rebuild: bool,
    progress: BuildProgress | None,
    t0: float,
) -> IndexReport:
    previous = None if rebuild else reusable_index(target, settings, embedder.model_id)
    old_hashes: dict[str, str] = previous.manifest["articles"] if previous else {}
    current = {a.id: a for a in articles}

    unchanged = [a.id for a in articles if old_hashes.get(a.id) == a.sha256]
    added = [a.id for a in articles if a.id not in old_hashes]
    updated = [a.id for a in articles if a.id in old_hashes and old_hashes[a.id] != a.sha256]
    removed = sorted(set(old_hashes) - set(current))
    if previous and not (added or updated or removed):
        return IndexReport(
            added,
            updated,
            removed,
            unchanged,
            0,
            len(previous.passages),
            time.perf_counter() - t0,
            str(target),
            skipped,
            written=False,
        )

    to_embed = [a for a in articles if a.id not in unchanged]
    new_passages = {a.id: chunk_article(a, settings.chunk_size, settings.chunk_overlap) for a in to_embed}
    flat_new = [p for a in to_embed for p in new_passages[a.id]]
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    texts, parts = embedding_inputs(flat_new, {a.id: a.title for a in to_embed})
    total = len(texts)
    if progress:
        progress(0, total)
    vectors, sentence_vectors, nodes = embedded_here_or_on_cluster(embedder, settings, texts, parts, tick)
    new = Embedded(flat_new, vectors, sentence_vectors)
    passages, vectors, sentence_vectors = merged(articles, unchanged, previous, new, embedder.dim)
    counts = _passage_counts(passages)
    manifest = {
        "format": FORMAT_VERSION,
        "model": settings.model,
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "chunking": settings.chunking_signature(),
        "index": plan_for(len(passages)).__dict__,
        "articles": {a.id: a.sha256 for a in articles},
        "counts": {"articles": len(articles), "passages": len(passages)},
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - t0, 3),
        "qa_version": _version(),
    }
    records = [article_record(a, counts.get(a.id, 0)) for a in articles]
    write_index(target, manifest, records, passages, vectors, sentence_vectors)
    return IndexReport(
        added,
        updated,
        removed,
        unchanged,
        len(flat_new),
        len(passages),
        time.perf_counter() - t0,
        str(target),
        skipped,
        cluster_nodes=nodes,
    )


def embedded_here_or_on_cluster(
    embedder: Embedder,
    settings: Settings,
    texts: list[str],
    parts: list[list[tuple[int, int]]],
    tick: Callable[[int], None],
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Passage vectors, sentence vectors and passages per cluster node: the same function on this
    process or on a Ray cluster's actors (settings.cluster)."""
    if not settings.cluster or not texts:
        vectors, sentence_vectors = embedder.embed_passages_with_parts(texts, parts, settings.batch_size, tick)
        return vectors, sentence_vectors, {}
    from qa.cluster import embed_on_cluster

    done = embed_on_cluster(settings.cluster, settings, texts, parts, embedder.model_id, tick)
    return done.vectors, done.sentence_vectors, done.per_node


def embedding_inputs(passages: list[Passage], titles: dict[str, str]) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """What is embedded for each passage, and where its sentences sit in it. Each passage is embedded
    under its article's title; its sentences' vectors come from the same pass where the engine can
    pool them (qa/embedding.py)."""
    texts, parts = [], []
    for p in passages:
        text, shift = under_title(titles[p.doc_id], p.text)
        texts.append(text)
        parts.append([(shift + s, shift + e) for s, e in p.sentences])
    return texts, parts


def built_by_older_rules(settings: Settings) -> bool:
    """Whether the index in force differs from `settings` only by the sentence rules it was cut with."""
    try:
        chunking = dict(read_manifest(settings.index_dir).get("chunking") or {})
    except IndexUnusableError:
        return False
    wanted = settings.chunking_signature()
    return chunking.get("sentence_rules") != wanted["sentence_rules"] and {**chunking, "sentence_rules": wanted["sentence_rules"]} == wanted


def reusable_index(index_dir: Path, settings: Settings, model_id: str) -> StoredIndex | None:
    """The previous index when its vectors can be reused as they are, else None (full rebuild)."""
    try:
        stored = read_index(index_dir)
    except (IndexMissingError, IndexCorruptError):
        return None
    m = stored.manifest
    if m.get("model_id") != model_id or m.get("chunking") != settings.chunking_signature():  # as Retriever.load
        return None
    return stored


@dataclass(frozen=True)
class Embedded:
    passages: list[Passage]
    vectors: np.ndarray
    sentence_vectors: np.ndarray


def merged(
    articles: list[Article],
    unchanged: list[str],
    previous: StoredIndex | None,
    new: Embedded,
    dim: int,
) -> tuple[list[Passage], np.ndarray, np.ndarray]:
    """Passages, vectors and sentence vectors of every article in article order, reusing unchanged ones."""
    sources: list[Embedded] = [new]
    if previous:
        sources.append(Embedded(previous.passages, previous.vectors, previous.sentence_vectors))
    keep = set(unchanged)
    rows_by_doc: dict[str, tuple[int, list[int]]] = {}
    for s_no, src in enumerate(sources):
        wanted = (lambda d: d not in keep) if s_no == 0 else (lambda d: d in keep)
        for i, p in enumerate(src.passages):
            if wanted(p.doc_id):
                rows_by_doc.setdefault(p.doc_id, (s_no, []))[1].append(i)
    passages: list[Passage] = []
    vec_parts: list[np.ndarray] = [np.zeros((0, dim), np.float32)]
    sent_parts: list[np.ndarray] = [np.zeros((0, dim), np.float32)]
    offsets = [sentence_rows_of(src.passages) for src in sources]
    for a in articles:
        if a.id not in rows_by_doc:
            continue
        s_no, rows = rows_by_doc[a.id]
        src = sources[s_no]
        passages.extend(src.passages[i] for i in rows)
        vec_parts.append(src.vectors[rows])
        sent_parts.extend(src.sentence_vectors[offsets[s_no][i] : offsets[s_no][i + 1]] for i in rows)
    as_array = lambda parts: np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)  # noqa: E731
    return passages, as_array(vec_parts), as_array(sent_parts)


def _passage_counts(passages: list[Passage]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in passages:
        counts[p.doc_id] = counts.get(p.doc_id, 0) + 1
    return counts


def _version() -> str:
    try:
        return metadata.version("newsqa")
    except metadata.PackageNotFoundError:
        return "0+unknown"
