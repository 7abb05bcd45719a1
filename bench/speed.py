"""Speed figures for the README: warm search vs the query-embedding floor, warm answer (search + reader),
cold `qa ask`, index builds (the seeds, and the PIAF dev collection).

Medians over repeated runs after a warm-up (the machine is shared and noisy).
    python -m bench.speed [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, env_without_settings

QUESTIONS = [
    "Combien Microsoft va-t-il investir au Japon ?",
    "How much will Amazon Web Services invest in Japan, and by when?",
    "Quelles entreprises japonaises recevront des GPU de NVIDIA ?",
    "Who is the president of Microsoft quoted in the announcement?",
    "What did US Homeland Security experts criticise Microsoft for?",
]


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def piaf_dev_build(settings, work: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The PIAF dev collection (30 articles, 160 KB) indexed from scratch, median of 3 builds."""
    import qa
    from qa.evaluation import eval_collection, load_questions

    questions = ROOT.parent / "shared" / "eval" / "piaf" / "questions.jsonl"
    if not questions.exists():
        return {}
    folder = eval_collection(questions, load_questions(questions, "dev"))
    assert folder is not None
    builds = []
    for _ in range(3):
        t0 = time.perf_counter()
        report = qa.build_index(folder / "seeds", work / "piaf-index", settings, rebuild=True)
        builds.append(time.perf_counter() - t0)
    return {"index_build_piaf_dev_s": statistics.median(builds), "piaf_dev_passages": report.chunks_total}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    import qa

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        seeds, index = Path(d) / "seeds", Path(d) / "index"
        shutil.copytree(ROOT / "seeds", seeds)
        settings = qa.Settings.from_env(env={})
        qa.build_index(seeds, index, settings)  # warm the model once
        builds = []
        for _ in range(3):
            t0 = time.perf_counter()
            qa.build_index(seeds, index, settings, rebuild=True)
            builds.append(time.perf_counter() - t0)
        out["index_build_seeds_s"] = statistics.median(builds)
        r = qa.Retriever.load(index, settings)
        for q in QUESTIONS:
            r.search(q)
        embed = statistics.median(median_ms(lambda q=q: r.embedder.embed_query(q), args.runs) for q in QUESTIONS)
        search = statistics.median(median_ms(lambda q=q: r.search(q), args.runs) for q in QUESTIONS)
        answer = statistics.median(median_ms(lambda q=q: qa.answer(q, r), args.runs) for q in QUESTIONS)
        out.update(embed_query_ms=embed, search_ms=search, search_over_embed=search / embed, answer_ms=answer)
        env = env_without_settings()
        cold = []
        for i in range(max(5, args.runs // 4)):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "qa.cli", "ask", QUESTIONS[i % len(QUESTIONS)], "--index", str(index),
                            "--seeds", str(seeds)], check=True, capture_output=True, env=env)
            cold.append(time.perf_counter() - t0)
        out["cold_ask_s"] = statistics.median(cold)
        out.update(piaf_dev_build(settings, Path(d)))
    print(json.dumps({k: round(v, 3) for k, v in out.items()}, indent=1))


if __name__ == "__main__":
    main()
