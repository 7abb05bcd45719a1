"""Setting measured and not changed: how long a passage is, and how many the reader reads.

`python -m bench.passage_sizes [--sizes 600/120/4,450/90/5]` runs `qa eval`, as a user would,
with `QA_CHUNK_SIZE`, `QA_CHUNK_OVERLAP` and `QA_TOP_K` set to each size (characters / overlap /
passages read), on PIAF dev (the 150 French questions, 30 English ones and the 20 unanswerable
ones written here; once at the fitted threshold, once declining nothing), on the seeds' `dev.jsonl`
and on the seeds with the 12 near-topic articles (`dev.jsonl`, `bench/questions.jsonl` and the news
near misses). Each size gets its own indexes, in a temporary folder.

Why: the chunk size (600 characters, 4 passages read) was chosen on the seeds before there was a
reader, by how often search put the right passage first. The reader reads what the chunks give
it, so the size was measured again with it. The confidence is the shipped one unless the row says
it was refitted: for that, set the defaults of `qa/config.py` to the size, run
`python -m bench.fit_confidence`, then this with `--sizes` of that size and `--refitted`.
Results in bench/RESULTS.md ("Passage size with the reader").
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import DEV_QUESTIONS, RESULTS, ROOT, copy_collection
from bench.piaf import PIAF_QUESTIONS, UNANSWERABLE_DEV

NEWS_QUESTIONS = [DEV_QUESTIONS, ROOT / "bench" / "questions.jsonl", ROOT / "bench" / "questions" / "news_unanswerable.jsonl"]
SIZES = "600/120/4,450/90/4,450/90/5,500/100/5,525/105/5,350/70/5,900/120/4,1200/150/4"
OUT = RESULTS / "passage_sizes.json"


def qa_eval(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """`qa eval --json` with these arguments and settings."""
    done = subprocess.run([sys.executable, "-m", "qa.cli", "eval", *map(str, args), "--json"], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"qa eval {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def measured(size: int, overlap: int, top_k: int, refitted: bool, scratch: Path) -> dict[str, Any]:
    """One size's `qa eval` figures: PIAF dev per language, at the threshold and without one, the
    seeds' dev file, the seeds among the near-topic news."""
    env = {**os.environ, "QA_CHUNK_SIZE": str(size), "QA_CHUNK_OVERLAP": str(overlap), "QA_TOP_K": str(top_k)}
    env.pop("QA_MIN_CONFIDENCE", None)
    piaf = [PIAF_QUESTIONS, UNANSWERABLE_DEV, "--split", "dev"]
    keys = ("hit@1", "sentence_holds_answer", "short_em", "short_f1", "false_abstentions")
    row: dict[str, Any] = {"chunk_size": size, "chunk_overlap": overlap, "top_k": top_k, "refitted": refitted}
    for label, extra in (("piaf", {}), ("piaf_no_threshold", {"QA_MIN_CONFIDENCE": "0"})):
        res = qa_eval(piaf, {**env, **extra})
        row[label] = {
            **{lang: {k: res["by_lang"][lang][k] for k in keys} for lang in ("fr", "en")},
            "unanswerable_declined": res["abstained_unanswerable"],
            "unanswerable": res["unanswerable"],
            "answer_p50_ms": res["answer_p50_ms"],
        }
    tag = f"{size}-{overlap}-{top_k}"
    news_seeds = copy_collection(scratch / "news-seeds")
    for label, args in (
        ("seeds_dev", [DEV_QUESTIONS, "--index", scratch / f"seeds-{tag}"]),
        ("news", [*NEWS_QUESTIONS, "--seeds", news_seeds, "--index", scratch / f"news-{tag}"]),
    ):
        res = qa_eval(args, env)
        row[label] = {k: res[k] for k in ("hit@1", "answer_accuracy", "false_abstentions", "abstained_unanswerable", "unanswerable")}
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=SIZES, help="comma-separated characters/overlap/passages read")
    ap.add_argument("--refitted", action="store_true", help="the confidence was refitted at these sizes (see above)")
    args = ap.parse_args(argv)
    old = json.loads(OUT.read_text()) if OUT.exists() else {"finding": "", "variants": []}
    rows = {(r["chunk_size"], r["chunk_overlap"], r["top_k"], r["refitted"]): r for r in old["variants"]}
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes.split(","):
            chars, overlap, top_k = (int(x) for x in size.split("/"))
            row = measured(chars, overlap, top_k, args.refitted, Path(scratch))
            rows[(chars, overlap, top_k, args.refitted)] = row
            print(json.dumps(row), flush=True)
    # What the numbers mean is written by hand into the file's "finding"; a rerun keeps it.
    out = {"date": datetime.date.today().isoformat(), "finding": old.get("finding", ""), "variants": list(rows.values())}
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}; `python -m bench --report-only` puts it in bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
