"""One benchmark step in a fresh process, so that build time, cold start and peak memory are the
system's own: `python -m bench.worker build|serve|ask SYSTEM ...`. Prints one JSON line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def build(system_key: str, docs: Path, out: Path) -> dict:
    from bench.systems import make

    t0 = time.perf_counter()
    passages = make(system_key).build(docs, out)
    return {"seconds": time.perf_counter() - t0, "passages": passages}


def serve(system_key: str, out: Path, questions: Path, rounds: int) -> dict:
    """Load once, score every question, then time searches and answers over several rounds."""
    from bench.systems import make
    from qa.evaluation import load_questions, score_run

    system = make(system_key)
    t0 = time.perf_counter()
    system.load(out)
    load_s = time.perf_counter() - t0
    qs = load_questions(questions)
    quality = score_run(qs, lambda q: system.search(q, 10), system.answer)  # also the warm-up
    search_s, answer_s = [], []
    for _ in range(rounds):
        for q in qs:
            t0 = time.perf_counter()
            system.search(q["question"], 5)
            t1 = time.perf_counter()
            system.answer(q["question"])
            t2 = time.perf_counter()
            search_s.append(t1 - t0)
            answer_s.append(t2 - t1)
    rows = [{k: r[k] for k in ("id", "answerable", "rank", "abstained", "correct", "answer")} for r in quality.pop("rows")]
    # Raw times: the caller pools them over processes run in turn with the other systems.
    return {
        **{k: v for k, v in quality.items() if not k.endswith("_ms")},
        "rows": rows,
        "load_s": load_s,
        "search_s": search_s,
        "answer_s": answer_s,
    }


def ask(system_key: str, out: Path, question: str) -> dict:
    from bench.systems import make

    system = make(system_key)
    system.load(out, quick_start=True)
    res = system.answer(question)
    text, abstained = (res.text, res.abstained) if hasattr(res, "abstained") else res
    return {"answer": text[:200], "abstained": abstained}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.worker")
    sub = ap.add_subparsers(dest="step", required=True)
    b = sub.add_parser("build")
    b.add_argument("system")
    b.add_argument("docs", type=Path)
    b.add_argument("out", type=Path)
    s = sub.add_parser("serve")
    s.add_argument("system")
    s.add_argument("out", type=Path)
    s.add_argument("questions", type=Path)
    s.add_argument("--rounds", type=int, default=5)
    a = sub.add_parser("ask")
    a.add_argument("system")
    a.add_argument("out", type=Path)
    a.add_argument("question")
    args = ap.parse_args(argv)
    if args.step == "build":
        result = build(args.system, args.docs, args.out)
    elif args.step == "serve":
        result = serve(args.system, args.out, args.questions, args.rounds)
    else:
        result = ask(args.system, args.out, args.question)
    from bench.common import peak_rss_mb

    result["peak_rss_mb"] = peak_rss_mb()
    sys.stdout.write(json.dumps(result, ensure_ascii=False, default=float) + "\n")


if __name__ == "__main__":
    main()
