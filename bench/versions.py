"""Warm answer time of this tree against an earlier commit, in one run: `python -m bench.versions COMMIT`.

Two worker processes, one on this tree's `qa` and one on COMMIT's (a git worktree), each with the
PIAF dev collection indexed by its own code, answer the same PIAF dev questions in turns (A, B, A,
B…), so that both meet the same load on this shared machine. Each times its own `qa.answer` calls;
the medians and their ratio are printed and written to bench/results/versions.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, env_without_settings, write_json

PIAF = ROOT.parent / "shared" / "eval" / "piaf" / "questions.jsonl"

WORKER = r"""
import json, sys, time
from pathlib import Path
import qa
from qa.evaluation import eval_collection, load_questions
qs = load_questions(sys.argv[1], "dev")
folder = eval_collection(Path(sys.argv[1]), qs)
settings = qa.Settings.from_env(env={}, seeds_dir=folder / "seeds", index_dir=Path(sys.argv[2]))
qa.build_index(settings.seeds_dir, settings.index_dir, settings)
r = qa.Retriever.load(settings.index_dir, settings)
qa.answer("warm-up", r)
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    qa.answer(line.strip(), r)
    print(json.dumps(time.perf_counter() - t0), flush=True)
"""


def start(code: Path, index: Path) -> subprocess.Popen[str]:
    env = env_without_settings() | {"PYTHONPATH": str(code)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(PIAF), str(index)], cwd=code, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    while (line := proc.stdout.readline()) and line.strip() != "ready":
        pass
    return proc


def ask(proc: subprocess.Popen[str], question: str) -> float:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(question.replace("\n", " ") + "\n")
    proc.stdin.flush()
    return float(proc.stdout.readline())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("commit", help="the earlier commit to compare with")
    ap.add_argument("--rounds", type=int, default=1, help="times each question is asked of each")
    args = ap.parse_args(argv)
    from qa.evaluation import load_questions

    questions = [q["question"] for q in load_questions(PIAF, "dev")]
    with tempfile.TemporaryDirectory(prefix="qa-versions-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.commit], cwd=ROOT, check=True, capture_output=True)
        try:
            workers = {"this tree": start(ROOT, Path(tmp) / "index-new"), args.commit: start(old, Path(tmp) / "index-old")}
            times: dict[str, list[float]] = {name: [] for name in workers}
            for _ in range(args.rounds):
                for q in questions:
                    for name, proc in workers.items():
                        times[name].append(ask(proc, q))
            for proc in workers.values():
                proc.terminate()
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
    medians = {name: 1000 * statistics.median(t) for name, t in times.items()}
    ratio = medians["this tree"] / medians[args.commit]
    result = {"commit": args.commit, "questions": len(questions), "rounds": args.rounds, "median_ms": medians, "ratio": round(ratio, 3)}
    write_json(ROOT / "bench" / "results" / "versions.json", result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
