"""The span reader fine-tuned on what it reads in the product, and to say "not here":
`python -m bench.span_verifier` (an experiment: bench/RESULTS.md, "Reader variants tried").

In the product the span reader reads the question, the quoted sentence and SPAN_CONTEXT tokens on
each side of it, from the states the reader's pass left after the layers both share
(qa/reader.py, `Reader.span_in`); it was trained on whole passages. Here it is trained further on
exactly that input, made from the reader's training windows and their cached bottom-layer states
(bench/train_reader.py), with four kinds of view:
- the sentence that holds the answer, labelled with the answer's tokens;
- another sentence of the same window, labelled "no answer here" (the wrong sentence of the right
  passage, the product's most common miss within a passage);
- a sentence of a window without the answer (the search's hard negatives), labelled "no answer";
- the answer's sentence asked a near miss (the question with one name or year swapped for one the
  window does not write, bench/train_reader.py `swapped_examples`), labelled "no answer".
So its margin on the quoted sentence may tell a near miss apart, which the reader, choosing among
passages, does not learn without reading worse (bench/RESULTS.md, rows 4 and 15).
Deterministic: fixed seeds; checkpointed under bench/.cache/reader/ like the reader.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

from bench.train_reader import (
    BATCH,
    CACHE,
    CHECKPOINT_EVERY,
    SEED,
    batch_tensors,
    build_examples,
    dev_windows,
    evaluate,
    frozen_states,
    hard_negatives,
    load_into,
    log,
    optimised,
    probe,
    resumed,
    save_checkpoint,
    span_loss,
    swapped_examples,
    top_model,
    warmup_then_linear,
    write_reader,
)

EPOCHS = 2
LR = 3e-5
OTHER_PASSAGE_SHARE = 1.0  # views of windows without the answer, per answerable view
OUT = CACHE / "span-verifier.npz"
_ENDS = (".", "!", "?", "…")


def sentence_ranges(ids: list[int], first: int, tok) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """The window's sentences as token ranges [lo, hi): a piece ending a sentence (".", "?", "!",
    closing quotes aside) followed by a piece that starts a word."""
    last = len(ids) - 1  # the closing </s>
    pieces = [tok.sp.id_to_piece(int(i)) for i in ids]
    out, lo = [], first
    for t in range(first, last):
        ends = pieces[t].rstrip("»\"”')").endswith(_ENDS) and (t + 1 == last or pieces[t + 1].startswith("▁"))
        if ends or t + 1 == last:
            out.append((lo, t + 1))
            lo = t + 1
    return out


def views(examples: list[dict], swapped: list[dict], tok, rng: random.Random, context: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Run-time views of the reader's examples (see the module's docstring); `src` indexes
    examples + swapped."""
    from qa.reader import SPAN_CONTEXT, span_rows

    context = context if context >= 0 else SPAN_CONTEXT
    out: list[dict] = []
    answer_rows: dict[tuple[str, tuple[int, ...]], tuple[int, int]] = {}
    negatives = []
    for i, ex in enumerate(examples):
        ids, first = ex["ids"], ex["first"]
        sentences = sentence_ranges(ids, first, tok)
        if ex["start"] == 0:
            negatives.append((i, sentences))
            continue
        inside = [(lo, hi) for lo, hi in sentences if lo <= ex["end"] and ex["start"] < hi]
        lo, hi = inside[0][0], inside[-1][1]
        keep = span_rows(len(ids), first, lo, hi, context)
        pos = {int(k): n for n, k in enumerate(keep)}
        out.append({"src": i, "keep": keep, "start": pos[ex["start"]], "end": pos[ex["end"]], "kind": "answer", "q": ex["q"], "first": first})
        answer_rows.setdefault((ex["q"], tuple(ids[first:])), (lo - first, hi - first))
        others = [(a, b) for a, b in sentences if b <= lo or a >= hi]
        if others:
            a, b = rng.choice(others)
            out.append({"src": i, "keep": span_rows(len(ids), first, a, b, context), "start": 0, "end": 0, "kind": "wrong_sentence", "q": ex["q"], "first": first})
    n_answers = sum(v["kind"] == "answer" for v in out)
    for i, sentences in rng.sample(negatives, min(len(negatives), int(OTHER_PASSAGE_SHARE * n_answers))):
        ex = examples[i]
        a, b = rng.choice(sentences)
        out.append({"src": i, "keep": span_rows(len(ex["ids"]), ex["first"], a, b, context), "start": 0, "end": 0, "kind": "other_passage", "q": ex["q"], "first": ex["first"]})
    for j, ex in enumerate(swapped):
        original = ex["q"].removeprefix("swapped-")
        found = answer_rows.get((original, tuple(ex["ids"][ex["first"] :])))
        if found is None:
            continue
        lo, hi = found[0] + ex["first"], found[1] + ex["first"]
        keep = span_rows(len(ex["ids"]), ex["first"], lo, hi, context)
        out.append({"src": len(examples) + j, "keep": keep, "start": 0, "end": 0, "kind": "near_miss", "q": ex["q"], "first": ex["first"]})
    counts = {k: sum(v["kind"] == k for v in out) for k in ("answer", "wrong_sentence", "other_passage", "near_miss")}
    log(f"{len(out)} views: {counts}")
    return out


def materialised(vs: list[dict], examples: list[dict], states: list[np.ndarray]) -> tuple[list[dict], list[np.ndarray]]:
    """The views as the reader's examples and their states (bench/train_reader.py's `batch_tensors`
    and `evaluate` take them so): each one's rows of its source example."""
    rows = [{"ids": [examples[v["src"]]["ids"][int(k)] for k in v["keep"]], "start": v["start"], "end": v["end"], "q": v["q"], "first": v["first"]} for v in vs]
    return rows, [states[v["src"]][v["keep"]] for v in vs]


def evaluate_views(model, vs: list[dict], examples: list[dict], states: list[np.ndarray], tok, dev_q: dict[str, dict]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Span EM / F1 on the answer views; AUC of the margin, answer views against each kind of negative."""
    result: dict[str, float] = {}
    answers = [v for v in vs if v["kind"] == "answer"]
    for kind in ("other_passage", "wrong_sentence", "near_miss"):
        rows, view_states = materialised(answers + [v for v in vs if v["kind"] == kind], examples, states)
        scores = evaluate(model, rows, view_states, tok, dev_q)
        result.update(em=scores["em"], f1=scores["f1"], answers=scores["n_pos"])
        result[f"auc_{kind}"] = scores["auc"]
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--lr", type=float, default=LR)
    ap.add_argument("--context", type=int, default=-1, help="tokens on each side of the sentence (default: qa.reader.SPAN_CONTEXT)")
    ap.add_argument("--no-negatives", action="store_true", help="answer views only: the span reader on its run-time input, nothing more")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from bench.soup import float_weights
    from qa.e5_onnx import E5Onnx
    from qa.reader import SPAN_READER_FILE, Tokens

    torch.set_num_threads(2)
    engine = E5Onnx()
    tok = Tokens(engine.weights, engine._tokenizer)
    start, meta = float_weights(SPAN_READER_FILE)
    n_frozen = int(engine.weights.config["NL"]) - int(meta["tuned_layers"])
    # The shipped reader's examples, so that their cached bottom-layer states are reused.
    train = build_examples("train", tok, random.Random(SEED), hard=hard_negatives("train"), english=True)
    train_states = frozen_states(train, engine, n_frozen, CACHE / "train.npz")
    swapped = swapped_examples(tok, random.Random(SEED + 3))
    swapped_states = frozen_states(swapped, engine, n_frozen, CACHE / "swapped.npz")
    dev, dev_states, dev_q = dev_windows(tok, engine, n_frozen)
    # Near misses made by the same rule from the dev questions: measured on, never trained on.
    dev_swapped = swapped_examples(tok, random.Random(SEED + 4), split="dev")
    dev_swapped_states = frozen_states(dev_swapped, engine, n_frozen, CACHE / "dev-swapped.npz")

    train_views = views(train, swapped, tok, random.Random(SEED + 5), args.context)
    if args.no_negatives:
        train_views = [v for v in train_views if v["kind"] == "answer"]
    train_rows, states = materialised(train_views, train + swapped, train_states + swapped_states)
    dev_views = views(dev, dev_swapped, tok, random.Random(SEED + 6), args.context)
    dev_set = (dev_views, dev + dev_swapped, dev_states + dev_swapped_states, tok, dev_q)

    model = top_model(tok.weights, n_frozen)
    load_into(model, start, n_frozen)
    log(f"shipped span reader, dev views: {evaluate_views(model, *dev_set)}")

    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    rng = random.Random(SEED)
    schedule_of_batches = []
    for _ in range(args.epochs):
        order = list(range(len(train_rows)))
        rng.shuffle(order)
        schedule_of_batches.append([order[i : i + BATCH] for i in range(0, len(order), BATCH)])
    total = sum(len(b) for b in schedule_of_batches)
    schedule = warmup_then_linear(optimiser, total)
    tag = f"span-verifier-e{args.epochs}-lr{args.lr:g}-c{args.context}" + ("-answers" if args.no_negatives else "")
    ckpt = CACHE / f"checkpoint-{tag}.pt"
    step, spent = resumed(ckpt, model, optimiser, schedule, total) if not args.fresh else (0, 0.0)
    batches = [b for epoch in schedule_of_batches for b in epoch]
    t0 = time.time()
    model.train()
    while step < total:
        x, mask, allowed, starts, ends = batch_tensors(train_rows, states, batches[step])
        loss = span_loss(model(x, mask), allowed, starts, ends)
        optimised(model, optimiser, schedule, loss)
        step += 1
        if step % 20 == 0:
            log(f"step {step}/{total} loss {loss.item():.3f}")
        if step % CHECKPOINT_EVERY == 0 or step == total:
            save_checkpoint(ckpt, model, optimiser, schedule, step, spent + time.time() - t0)
        if step % len(schedule_of_batches[0]) == 0:
            log(f"epoch {step // len(schedule_of_batches[0])} dev views: {evaluate_views(model, *dev_set)}")
    write_reader(model, n_frozen, str(step), float(args.epochs), probe(model, dev[:6], dev_states), spent + time.time() - t0, len(train_rows), args.out, seed=SEED, lr=args.lr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
