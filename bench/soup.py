"""Average exported readers weight by weight: `python -m bench.soup A.npz B.npz [C.npz ...] --out D.npz`.

A "model soup" (Wortsman et al. 2022) of readers that bench/train_reader.py trained from the
same start with different data or seeds, for example the shipped reader and one trained with
--swapped. The 8-bit matrices are decoded, averaged (equal shares, or for two readers --weight,
the share of B) and encoded again; the probes that tests/test_reader.py checks the ONNX reader against are computed anew from
the averaged model, so the soup is a reader like any other. The shipped span reader is such a soup
(bench/span_reader.py: the shipped reader and a second seed of its recipe); the other soups are
measured in bench/RESULTS.md ("Reader variants tried") and are not shipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench.train_reader import (
    dev_windows,
    evaluate,
    load_into,
    log,
    probe,
    top_model,
    write_reader,
)


def float_weights(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The reader's tuned weights in float32, decoded as qa/reader.py decodes them (the 8-bit matrices
    as `.w`, (out, in)), and its meta."""
    from qa.e5_onnx import dequantised8
    from qa.reader import reader_file

    tuned, meta = reader_file(path)
    # torch holds a layer's matrix as (out, in): the graph's (in, out) transposed back.
    weights = [(k[:-1], w.T) if k.endswith(".wT") else (k, w) for k, w in dequantised8(tuned).items()]
    return {k: np.ascontiguousarray(w, dtype=np.float32) for k, w in weights}, meta


def averageable(paths: list[Path]) -> list[tuple[dict[str, np.ndarray], dict]]:
    """Each reader's float weights and meta (`float_weights`); exits where they cannot be averaged,
    weight by weight or logit by logit: other layers tuned, or titles read by some and not others."""
    loaded = [float_weights(path) for path in paths]
    metas = [meta for _, meta in loaded]
    if any(m["tuned_layers"] != metas[0]["tuned_layers"] or w.keys() != loaded[0][0].keys() for w, m in loaded):
        raise SystemExit("the readers do not tune the same layers: they cannot be averaged")
    if any(bool(m.get("titled")) != bool(metas[0].get("titled")) for m in metas):
        raise SystemExit("some readers read titles and others do not: they cannot be averaged")
    return loaded


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("readers", type=Path, nargs="+", help="two readers or more")
    ap.add_argument("--weight", type=float, default=None, help="with two readers: the share of the second (0.5)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if len(args.readers) < 2:
        raise SystemExit("a soup takes two readers or more")
    if args.weight is not None and len(args.readers) != 2:
        raise SystemExit("--weight is the second reader's share of two: more readers are averaged in equal shares")
    import torch

    from qa.e5_onnx import E5Onnx
    from qa.reader import Tokens

    loaded = averageable(args.readers)
    metas = [meta for _, meta in loaded]
    titled = bool(metas[0].get("titled"))
    shares = [1 - args.weight, args.weight] if args.weight is not None else [1 / len(loaded)] * len(loaded)
    torch.set_num_threads(2)
    engine = E5Onnx()
    tok = Tokens(engine.weights, engine._tokenizer)
    n_frozen = int(engine.weights.config["NL"]) - int(metas[0]["tuned_layers"])
    model = top_model(tok.weights, n_frozen)
    load_into(model, {k: sum(share * w[k] for share, (w, _) in zip(shares, loaded, strict=True)) for k in loaded[0][0]}, n_frozen)
    dev, dev_states, dev_q = dev_windows(tok, engine, n_frozen, titled)
    # Read alone, as bench/train_reader.py reports each reader after its last epoch.
    log(f"soup dev: {evaluate(model, dev, dev_states, tok, dev_q)}")
    probes = probe(model, dev[:6], dev_states)
    minutes = sum(float(m.get("train_minutes", 0)) for m in metas)
    write_reader(
        model, n_frozen, "+".join(m["version"].rsplit("step", 1)[-1] for m in metas), min(m["epochs_done"] for m in metas), probes,
        60 * minutes, int(metas[0]["examples"]), args.out, soup=len(metas), written=any(m.get("written_questions", False) for m in metas),
        swapped=max(int(m.get("swapped_examples", 0)) for m in metas), titled=titled,
    )
    names = ", ".join(p.name for p in args.readers)
    log(f"averaged {names} ({', '.join(f'{s:.2f}' for s in shares)}) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
