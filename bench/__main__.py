"""`python -m bench`: run the benchmarks, write bench/RESULTS.md and bench/plots/, print the table.

    python -m bench                     # everything (about 25 minutes on 2 cores)
    python -m bench --only compare      # one part; the others' last results stay in the report
    python -m bench --quick --out /tmp/b  # tiny sizes, a check that the code runs
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from bench.common import DEV_QUESTIONS, ROOT, machine, read_json, write_json

PARTS = ("piaf", "news", "compare", "scale", "load", "formats", "cluster", "sync")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(PARTS), help="parts to run, comma-separated: " + ", ".join(PARTS))
    ap.add_argument("--out", type=Path, default=ROOT / "bench", help="folder for RESULTS.md, plots/ and results/")
    ap.add_argument("--questions", type=Path, default=DEV_QUESTIONS, help="question file (format: shared/eval/README.md)")
    ap.add_argument("--docs", type=Path, nargs="+", help="folders of articles (default: seeds/ and bench/distractors/)")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="collection sizes for the scale study")
    ap.add_argument("--users", default="20,50", help="concurrent users for the load test")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and single runs: checks the code, measures nothing")
    ap.add_argument("--report-only", action="store_true", help="rewrite RESULTS.md and the plots from the saved results")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        print(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    if not args.questions.exists():
        print(f"no question file at {args.questions}", file=sys.stderr)
        return 2
    results_dir = args.out / "results"

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if not args.report_only:
        if "piaf" in parts:
            from bench import piaf

            piaf_results = piaf.run(quick=args.quick, log=log)
            if piaf_results is not None:
                write_json(results_dir / "piaf.json", piaf_results)
        if "news" in parts:
            from bench import newsdev

            write_json(results_dir / "news.json", newsdev.run(quick=args.quick, log=log))
        if "compare" in parts:
            from bench import compare

            runs = dict(builds=1, rounds=1, colds=1) if args.quick else {}
            write_json(results_dir / "compare.json", compare.run(questions=args.questions, sources=args.docs, log=log, **runs))
        if "scale" in parts:
            from bench import scale

            sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",")]
            opts = dict(n_queries=20, rounds=1, quick=True) if args.quick else {}
            from qa.evaluation import load_questions

            questions = [q["question"] for q in load_questions(args.questions)]
            write_json(results_dir / "scale.json", scale.run(sizes, sources=args.docs, questions=questions, log=log, **opts))
        if "load" in parts:
            from bench import load

            users = [2] if args.quick else [int(u) for u in args.users.split(",")]
            write_json(results_dir / "load.json", load.run(users, per_user=1 if args.quick else 5, questions=args.questions, sources=args.docs, log=log))

        if "formats" in parts:
            from bench import formats

            formats_results = formats.run(n=5 if args.quick else 50, rounds=1 if args.quick else 3, log=log)
            if formats_results is not None:
                write_json(results_dir / "formats.json", formats_results)

        if "cluster" in parts:
            from bench import cluster

            cluster_results = cluster.run(n=100 if args.quick else 800, rounds=1 if args.quick else 3, log=log)
            if cluster_results is not None:
                write_json(results_dir / "cluster.json", cluster_results)

        if "sync" in parts:
            from bench import sync

            write_json(results_dir / "sync.json", sync.run(n=5 if args.quick else 50, rounds=1 if args.quick else 3, log=log))

    from bench import report

    results = {p: read_json(results_dir / f"{p}.json") for p in PARTS}
    # The variants were measured by hand with code that has left the tree (docs/experiments.md): kept, not rerun.
    results["reader_variants"] = read_json(results_dir / "reader_variants.json")
    results["search_variants"] = read_json(results_dir / "search_variants.json")
    results["reading_variants"] = read_json(results_dir / "reading_variants.json")
    results["passage_sizes"] = read_json(results_dir / "passage_sizes.json")
    results["machine"] = machine()
    results["when"] = datetime.date.today().isoformat()
    path = report.write(results, args.out)
    print(report.headline(results))
    print(f"\nwrote {path} and {args.out / 'plots'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
