"""How far averaging readers would take the answers: `qa eval` with the reader's start and end
logits averaged over the shipped reader and other reader files trained here (reader variants,
bench/RESULTS.md). An experiment, not a product path: each extra reader reads every passage
again through all 12 layers, so an answer takes about (1 + extra readers) times as long.

    python -m bench.ensemble bench/.cache/reader/reader-seed14.npz [more.npz ...] -- <qa eval arguments>
    python -m bench.ensemble --alone qa/data/reader.npz bench/.cache/reader/reader-seed14.npz [...]

The second form reads PIAF dev windows alone with the averaged logits of the files given, as
bench/train_reader.py reports each reader after its last epoch (span F1 / EM, no-answer AUC).

The span reader still reads on from the shipped reader's states; passages, sentences, the
confidence and the short answer's sentence come from the averaged logits.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np


def averaging_reader(files: list[Path]) -> type:
    """A Reader whose logits are the mean of its own and those of readers loaded from `files`."""
    from qa.reader import READER_FILE, SPAN_READER_FILE, Reader

    class AveragingReader(Reader):
        def __init__(
            self, engine: Any | None = None, path: Path = READER_FILE, span_path: Path | None = SPAN_READER_FILE
        ) -> None:
            super().__init__(engine, path, span_path)
            self.others = [Reader(self.engine, f, None) for f in files]

        def logits(self, question: str, passages: list[str], states: list[np.ndarray] | None = None) -> Any:
            out, mask, offsets, firsts = super().logits(question, passages, states)
            outs = [out] + [Reader.logits(o, question, passages)[0] for o in self.others]
            return np.mean(outs, axis=0), mask, offsets, firsts

    return AveragingReader


def alone(files: list[Path]) -> dict[str, float]:
    """The averaged readers on PIAF dev windows, as bench/train_reader.py evaluates one reader."""
    import torch

    from bench.soup import averageable
    from bench.train_reader import dev_windows, evaluate, load_into, top_model
    from qa.e5_onnx import E5Onnx
    from qa.reader import Tokens

    torch.set_num_threads(2)
    engine = E5Onnx()
    tok = Tokens(engine.weights, engine._tokenizer)
    loaded = averageable(files)
    meta = loaded[0][1]
    n_frozen = int(engine.weights.config["NL"]) - int(meta["tuned_layers"])
    models = []
    for weights, _ in loaded:
        model = top_model(tok.weights, n_frozen)
        load_into(model, weights, n_frozen)
        models.append(model)

    class Averaged(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.models = torch.nn.ModuleList(models)

        def forward(self, x: Any, mask: Any) -> Any:
            return torch.stack([m(x, mask) for m in self.models]).mean(0)

    dev, states, dev_q = dev_windows(tok, engine, n_frozen, bool(meta.get("titled")))
    return evaluate(Averaged(), dev, states, tok, dev_q)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--alone"] and len(argv) > 1:
        print(alone([Path(f) for f in argv[1:]]))
        return 0
    if "--" not in argv or argv.index("--") == 0:
        print(__doc__)
        return 2
    cut = argv.index("--")
    files = [Path(f) for f in argv[:cut]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"missing reader files: {', '.join(missing)} (python -m bench.train_reader --seed 14 --out ... makes one)")
        return 2
    import qa.reader
    from qa.cli import main as qa_main

    qa.reader.Reader = averaging_reader(files)  # load_reader builds the one reader per process from here
    sys.argv = ["qa", "eval", *argv[cut + 1 :]]
    qa_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
