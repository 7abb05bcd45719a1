"""Average two exported readers weight by weight: `python -m bench.soup A.npz B.npz --out C.npz`.

A "model soup" (Wortsman et al. 2022) of two readers that bench/train_reader.py trained from the
same start with different data or seeds, for example the shipped reader and one trained with
--swapped. The 8-bit matrices are decoded, averaged with --weight (the share of B) and encoded
again; the probes that tests/test_reader.py checks the ONNX reader against are computed anew from
the averaged model, so the soup is a reader like any other. The shipped span reader is such a soup
(bench/span_reader.py: the shipped reader and a second seed of its recipe); the other soups are
measured in bench/RESULTS.md ("Reader variants tried") and are not shipped.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

from bench.train_reader import (
    CACHE,
    SEED,
    build_examples,
    evaluate,
    frozen_states,
    load_into,
    log,
    piaf_questions,
    probe,
    top_model,
    write_reader,
)


def float_weights(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The reader's tuned weights in float32, decoded as qa/reader.py decodes them (`.w` for the 8-bit
    matrices), and its meta."""
    from qa.e5_onnx import dequantised8
    from qa.reader import reader_file

    tuned, meta = reader_file(path)
    return {k: w.astype(np.float32) for k, w in dequantised8(tuned).items()}, meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--weight", type=float, default=0.5, help="the share of B in the average")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    import torch

    from qa.e5_onnx import E5Onnx
    from qa.reader import Tokens

    (wa, meta_a), (wb, meta_b) = float_weights(args.a), float_weights(args.b)
    if meta_a["tuned_layers"] != meta_b["tuned_layers"] or wa.keys() != wb.keys():
        raise SystemExit("the two readers do not tune the same layers: they cannot be averaged")
    titled = bool(meta_a.get("titled"))
    if bool(meta_b.get("titled")) != titled:
        raise SystemExit("one reader reads titles and the other does not: they cannot be averaged")
    torch.set_num_threads(2)
    engine = E5Onnx()
    tok = Tokens(engine.weights, engine._tokenizer)
    n_frozen = int(engine.weights.config["NL"]) - int(meta_a["tuned_layers"])
    model = top_model(tok.weights, n_frozen)
    load_into(model, {k: (1 - args.weight) * wa[k] + args.weight * wb[k] for k in wa}, n_frozen)
    dev = build_examples("dev", tok, random.Random(SEED + 1), titled=titled)
    dev_states = frozen_states(dev, engine, n_frozen, CACHE / "dev.npz")
    # Read alone, as bench/train_reader.py reports each reader after its last epoch.
    log(f"soup dev: {evaluate(model, dev, dev_states, tok, {q['id']: q for q in piaf_questions('dev')})}")
    probes = probe(model, dev[:6], dev_states)
    minutes = float(meta_a.get("train_minutes", 0)) + float(meta_b.get("train_minutes", 0))
    write_reader(
        model, n_frozen, "+".join(m["version"].rsplit("step", 1)[-1] for m in (meta_a, meta_b)), min(meta_a["epochs_done"], meta_b["epochs_done"]), probes,
        60 * minutes, int(meta_a["examples"]), args.out, soup=2, written=any(m.get("written_questions", False) for m in (meta_a, meta_b)),
        swapped=max(int(m.get("swapped_examples", 0)) for m in (meta_a, meta_b)), titled=titled,
    )
    log(f"averaged {args.a.name} and {args.b.name} ({args.weight:.2f} of the second) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
