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
from qa.evaluation import load_questions

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


def measure_system(key: str, docs: Path, work: Path, questions: Path, builds: int, rounds: int, colds: int) -> dict[str, Any]:
    out = work / f"index-{key}"
    built = [run_worker("build", key, str(docs), str(out)) for _ in range(builds)]
    _, served = run_worker("serve", key, str(out), str(questions), "--rounds", str(rounds))
    question = cold_question(questions)
    if colds > 1:
        run_worker("ask", key, str(out), question)  # warm-up: the OS file cache, as for any second run
    cold_walls = [run_worker("ask", key, str(out), question)[0] for _ in range(colds)]
    return {
        **served,
        "passages": built[-1][1]["passages"],
        "build_s": median([wall for wall, _ in built]),
        "build_peak_rss_mb": max(result["peak_rss_mb"] for _, result in built),
        "serve_peak_rss_mb": served.pop("peak_rss_mb"),
        "cold_answer_s": median(cold_walls),
        "cold_runs": colds,
        "builds": builds,
        "rounds": rounds,
    }


def run(
    systems: Sequence[str] = ("project", "tutorial", "bm25"),
    questions: Path = DEV_QUESTIONS,
    sources: Sequence[Path] | None = None,
    builds: int = 3,
    rounds: int = 5,
    colds: int = 5,
    log=print,  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    from bench.systems import SYSTEMS

    with tempfile.TemporaryDirectory(prefix="qa-bench-") as d:
        work = Path(d)
        docs = copy_collection(work / "docs", sources)
        results: dict[str, Any] = {}
        for key in systems:
            log(f"compare: {key}")
            results[key] = {"name": SYSTEMS[key].name, **measure_system(key, docs, work, questions, builds, rounds, colds)}
            r = results[key]
            log(f"  hit@1 {r['hit@1']:.3f}  search p50 {r['search_p50_ms']:.1f} ms  cold {r['cold_answer_s']:.2f} s  "
                f"peak {r['serve_peak_rss_mb']:.0f} MB")
        articles = sorted(p.name for p in docs.iterdir())
    return {"questions": str(questions.name), "articles": articles, "systems": results}
