"""What the training commands share: where their data and caches are, a log line, an indexed collection."""

from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# PIAF (French Wikipedia questions, train and dev splits), beside the project as the benchmarks find it.
PIAF = ROOT.parent / "shared" / "eval" / "piaf"
PIAF_QUESTIONS = PIAF / "questions.jsonl"
# The questions written here for training (never for measuring).
QUESTIONS = ROOT / "training" / "questions"
# The near-topic news articles the benchmarks also use; read here as data, never imported.
DISTRACTORS = ROOT / "bench" / "distractors"
# The news collection written here (46 articles, several outlets on each event): its train split is
# fitted on, its dev split measured (bench/); read here as data, never imported.
NEWS = ROOT / "bench" / "news"
# What a run computes once and reuses (mined negatives, cached layer outputs, checkpoints, readings).
CACHE = ROOT / "training" / ".cache"
DATA = ROOT / "qa" / "data"


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def indexed_retriever(seeds: Path, index: Path):  # type: ignore[no-untyped-def]
    """The collection in `seeds`, indexed (incrementally) in `index` with the default settings, loaded."""
    import qa

    settings = qa.Settings.from_env(env={}, seeds_dir=seeds, index_dir=index)
    qa.build_index(seeds, index, settings)
    return qa.Retriever.load(index, settings)
