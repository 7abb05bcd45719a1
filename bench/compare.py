"""Side by side on the same questions, collection and machine: this project, the tutorial stack, BM25.

Every step runs in a fresh process (bench/worker.py): builds and cold starts are timed from outside,
peak memory is the process's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import DEV_QUESTIONS, ROOT, copy_collection, env_without_settings, median
from qa.evaluation import load_questions, percentile

# Cold starts ask the first dev question, a user's typical one-shot question.
COLD_QUESTION_ID = "d01"


def worker_env() -> dict[str, str]:
    # Nothing may reach a model hub; the tutorial's model comes from a local folder.
    return env_without_settings(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(ROOT))


def run_worker(*args: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds of the whole process (interpreter start included) and its JSON result."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", *args], capture_output=True, text=True, env=worker_env(), cwd=ROOT
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker {args[:2]} failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def cold_question(questions: Path) -> str:
    qs = load_questions(questions)
    return next((q["question"] for q in qs if q["id"] == COLD_QUESTION_ID), qs[0]["question"])


def latency(seconds: list[float], name: str) -> dict[str, float]:
    return {f"{name}_p50_ms": 1000 * median(seconds), f"{name}_p95_ms": 1000 * percentile(seconds, 95)}


def run(
    systems: Sequence[str] = ("project", "tutorial", "bm25"),
    questions: Path = DEV_QUESTIONS,
    sources: Sequence[Path] | None = None,
    builds: int = 3,
    rounds: int = 5,
    colds: int = 5,
    log=print,  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    """Every measurement is taken in turns, one system after the other, so that the shared machine's
    slow and fast minutes fall on all systems alike and their ratios hold."""
    from bench.systems import SYSTEMS

    question = cold_question(questions)
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as d:
        work = Path(d)
        docs = copy_collection(work / "docs", sources)
        out = {key: str(work / f"index-{key}") for key in systems}
        built: dict[str, list[tuple[float, dict[str, Any]]]] = {key: [] for key in systems}
        served: dict[str, list[dict[str, Any]]] = {key: [] for key in systems}
        cold: dict[str, list[float]] = {key: [] for key in systems}
        log("compare: building")
        for _ in range(builds):
            for key in systems:
                built[key].append(run_worker("build", key, str(docs), out[key]))
        log("compare: searching and answering")
        for _ in range(rounds):
            for key in systems:
                served[key].append(run_worker("serve", key, out[key], str(questions), "--rounds", "1")[1])
        log("compare: cold one-shot answers")
        if colds > 1:
            for key in systems:
                run_worker("ask", key, out[key], question)  # warm-up: the OS file cache, as for any second run
        for _ in range(colds):
            for key in systems:
                cold[key].append(run_worker("ask", key, out[key], question)[0])
        results: dict[str, Any] = {}
        for key in systems:
            first = served[key][0]
            results[key] = {
                "name": SYSTEMS[key].name,
                **{k: v for k, v in first.items() if k not in ("search_s", "answer_s", "load_s", "peak_rss_mb")},
                **latency([t for s in served[key] for t in s["search_s"]], "search"),
                **latency([t for s in served[key] for t in s["answer_s"]], "answer"),
                "load_s": median([s["load_s"] for s in served[key]]),
                "passages": built[key][-1][1]["passages"],
                "build_s": median([wall for wall, _ in built[key]]),
                "build_peak_rss_mb": max(result["peak_rss_mb"] for _, result in built[key]),
                "serve_peak_rss_mb": max(s["peak_rss_mb"] for s in served[key]),
                "cold_answer_s": median(cold[key]),
                "cold_runs": colds,
                "builds": builds,
                "rounds": rounds,
            }
            r = results[key]
            log(f"  {key}: hit@1 {r['hit@1']:.3f}  search p50 {r['search_p50_ms']:.1f} ms  cold {r['cold_answer_s']:.2f} s  "
                f"peak {r['serve_peak_rss_mb']:.0f} MB")
        articles = sorted(p.name for p in docs.iterdir())
    return {"questions": str(questions.name), "articles": articles, "systems": results}
