"""Fixtures: small real corpora on disk, real indexes built with the real default model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import qa

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DISTRACTORS = ROOT / "bench" / "distractors"
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
MS_ID = "000_1c9e95e5bcef29b5"
AFP_ID = "003_0b665f5c37c4620f"


def copy_corpus(dest: Path, distractors: tuple[str, ...] = ()) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in SEEDS.iterdir():
        shutil.copy(f, dest / f.name)
    for name in distractors:
        shutil.copy(DISTRACTORS / name, dest / name)
    return dest


@pytest.fixture(scope="session")
def settings() -> qa.Settings:
    return qa.Settings.from_env(env={})


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory: pytest.TempPathFactory, settings: qa.Settings) -> Path:
    """The two seed articles plus two near-topic distractors, indexed once for the session."""
    root = tmp_path_factory.mktemp("seeds_index")
    seeds = copy_corpus(root / "seeds", ("d11_nvidia_capitalisation.txt", "d02_microsoft_malaisie.txt"))
    qa.build_index(seeds, root / "index", settings)
    return root / "index"


@pytest.fixture(scope="session")
def retriever(seeds_index: Path, settings: qa.Settings) -> qa.Retriever:
    return qa.Retriever.load(seeds_index, settings)


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    return copy_corpus(tmp_path / "seeds")
