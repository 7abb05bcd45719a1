"""What embedding on a Ray cluster costs on one host: this process (ONNX Runtime on both cores, or on
one) against `--cluster local:1` (one single-CPU actor) and `local:2` (two), over the same passages.

The passages are PIAF's articles (French Wikipedia text, ../shared/eval/piaf/corpus) chunked as the
index chunks them, or the distractors when PIAF is absent. Each setup embeds a small job (one batch)
and the full one; two rates are kept apart, each the median of alternating rounds:

- marginal: (full - small passages) / (full - small seconds): what the workers sustain once started,
  free of the cluster's start (about 10 s here) and of when Ray hands results back. The model for
  N machines is built on it.
- end to end: passages over the whole call, the cluster's start included.

On one host the cluster cannot be faster than this process, which already uses both cores: the
overhead of `local:2` against this process is the figure (goal at most 10%).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import DISTRACTORS, ROOT, median

PIAF_CORPUS = ROOT.parent / "shared" / "eval" / "piaf" / "corpus"
Log = Callable[[str], None]


def passages(n: int) -> tuple[list[str], list[list[tuple[int, int]]], str]:
    from qa.chunking import chunk_article
    from qa.config import Settings
    from qa.corpus import load_articles
    from qa.indexing import embedding_inputs

    settings = Settings()
    source = PIAF_CORPUS if PIAF_CORPUS.is_dir() else DISTRACTORS
    articles, _ = load_articles(source, settings.max_article_bytes)
    chunks = [p for a in articles for p in chunk_article(a, settings.chunk_size, settings.chunk_overlap)][:n]
    texts, parts = embedding_inputs(chunks, {a.id: a.title for a in articles})
    return texts, parts, str(source.relative_to(ROOT.parent) if source.is_relative_to(ROOT.parent) else source)


Setup = Callable[[list[str], list[list[tuple[int, int]]]], tuple[float, np.ndarray, int]]


def local_setup(threads: int) -> Setup:
    def embed(texts: list[str], parts: list[list[tuple[int, int]]]) -> tuple[float, np.ndarray, int]:
        from qa.embedding import load_embedder

        embedder = load_embedder("e5-small", threads=threads)  # loaded once: the process is warm
        t0 = time.perf_counter()
        vectors, _ = embedder.embed_passages_with_parts(texts, parts, 32)
        return time.perf_counter() - t0, vectors, 1

    return embed


def cluster_setup(address: str) -> Setup:
    def embed(texts: list[str], parts: list[list[tuple[int, int]]]) -> tuple[float, np.ndarray, int]:
        from qa.cluster import embed_on_cluster
        from qa.config import Settings
        from qa.embedding import e5_small_id

        t0 = time.perf_counter()
        done = embed_on_cluster(address, Settings(), texts, parts, e5_small_id())
        return time.perf_counter() - t0, done.vectors, len(done.per_node)

    return embed


def run(n: int = 800, rounds: int = 3, small: int = 32, log: Log = print) -> dict[str, Any] | None:
    try:
        import ray  # noqa: F401
    except ImportError:
        log("cluster: Ray is not installed (pip install 'newsqa[cluster]'); skipped")
        return None
    texts, parts, source = passages(n)
    log(f"cluster: {len(texts)} passages from {source}, {rounds} round(s)")
    setups: dict[str, Setup] = {
        "this process, 2 threads": local_setup(2),
        "this process, 1 thread": local_setup(1),
        "local:1 (1 actor)": cluster_setup("local:1"),
        "local:2 (2 actors)": cluster_setup("local:2"),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in setups}
    reference: np.ndarray | None = None
    min_cosine = 1.0
    for r in range(rounds):
        for name, embed in setups.items():
            small_s, _, _ = embed(texts[:small], parts[:small])
            full_s, vectors, nodes = embed(texts, parts)
            figures = {
                "small_s": small_s,
                "full_s": full_s,
                "marginal_per_s": (len(texts) - small) / (full_s - small_s),
                "end_to_end_per_s": len(texts) / full_s,
                "nodes": nodes,
            }
            runs[name].append(figures)
            if reference is None:
                reference = vectors
            min_cosine = min(min_cosine, float((reference * vectors).sum(axis=1).min()))
            log(f"cluster round {r + 1}: {name}: {figures['marginal_per_s']:.1f}/s marginal, {full_s:.1f} s in all")
    summary = {name: {key: median([f[key] for f in figures]) for key in figures[0]} for name, figures in runs.items()}
    rate = {name: s["marginal_per_s"] for name, s in summary.items()}
    return {
        "passages": len(texts),
        "small": small,
        "source": source,
        "rounds": rounds,
        "runs": runs,
        "summary": summary,
        "min_cosine": min_cosine,
        # One host: what the cluster loses against this process on the same cores.
        "overhead_2": 1 - rate["local:2 (2 actors)"] / rate["this process, 2 threads"],
        "overhead_1": 1 - rate["local:1 (1 actor)"] / rate["this process, 1 thread"],
        "per_worker_per_s": rate["local:1 (1 actor)"],
        "start_s": summary["local:2 (2 actors)"]["small_s"],
    }


def table(results: dict[str, Any]) -> str:
    rows = [
        f"| how | passages/s, marginal | {results['passages']} passages, s | passages/s end to end | {results['small']} passages, s |",
        "|---|---|---|---|---|",
    ]
    for name, s in results["summary"].items():
        rows.append(f"| {name} | {s['marginal_per_s']:.1f} | {s['full_s']:.1f} | {s['end_to_end_per_s']:.1f} | {s['small_s']:.1f} |")
    return "\n".join(rows)


def goal(results: dict[str, Any]) -> tuple[str, bool, str]:
    return (
        "one host: `--cluster local:2` loses at most 10% of this process's embedding rate",
        results["overhead_2"] <= 0.10,
        f"{results['overhead_2']:+.1%} marginal rate with 2 actors against one 2-thread process; "
        f"{results['overhead_1']:+.1%} with 1 actor against 1 thread; vectors within cosine {results['min_cosine']:.6f}",
    )


def section(results: dict[str, Any]) -> str:
    per_worker = results["per_worker_per_s"]
    return "\n".join(
        [
            "## Embedding on a Ray cluster (`qa index --cluster`)",
            "",
            f"{results['passages']} passages of `{results['source']}` embedded by this process and by Ray actors on this "
            f"machine's 2 cores (`python -m bench --only cluster`); medians of {results['rounds']} alternating rounds. "
            f"The marginal rate leaves out the fixed cost of a call (measured with {results['small']} passages): "
            "the cluster's start and its actors' model load.",
            "",
            table(results),
            "",
            f"- One host: 2 actors lose {results['overhead_2']:.1%} of the rate of one process on the same 2 cores "
            f"(1 actor against 1 thread: {results['overhead_1']:.1%}); a cluster call costs about {results['start_s']:.0f} s "
            "to start. Vectors equal the local ones within cosine "
            f"{results['min_cosine']:.6f}.",
            f"- Model for N machines of C cores: N × C × {per_worker:.1f} passages/s (one single-CPU actor here: "
            f"{per_worker:.1f}/s), less the start; 1M passages on 8 machines of 16 cores: about "
            f"{1e6 / (8 * 16 * per_worker) / 60:.0f} minutes.",
        ]
    )


if __name__ == "__main__":  # python -m bench.cluster: a quick look without the report
    import json
    import sys

    out = run(n=int(sys.argv[1]) if len(sys.argv) > 1 else 800, rounds=1, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(out and out["summary"], indent=1))
