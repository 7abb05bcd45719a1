"""Search without the encoder's language: a French question finds the English article that answers it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qa
from qa.crosslingual import DIRECTION_FILE, language_direction
from qa.embedding import e5_small_id

ROOT = Path(__file__).resolve().parent.parent
NEWS = ROOT / "bench" / "news" / "articles"
# Hydrova's electrolysers: a French article on its Normandy plant, an English one, and the English
# article on the EIB loan, the only one that gives the Dunkirk electrolyser's capacity.
ARTICLES = ("n44_hydrova_electrolyseur_fr.md", "n45_hydrova_electrolyser_en.txt", "n46_hydrova_eib_loan_en.md")


@pytest.fixture(scope="module")
def hydrova(tmp_path_factory: pytest.TempPathFactory) -> qa.Retriever:
    root = tmp_path_factory.mktemp("hydrova")
    (root / "seeds").mkdir()
    for name in ARTICLES:
        shutil.copy(NEWS / name, root / "seeds" / name)
    settings = qa.Settings.from_env(env={})
    qa.build_index(root / "seeds", root / "index", settings)
    return qa.Retriever.load(root / "index", settings)


def test_a_french_question_finds_the_english_article_that_answers(hydrova: qa.Retriever) -> None:
    question = "Quelle est la capacité de l'électrolyseur de Dunkerque ?"
    assert hydrova.direction is not None
    assert hydrova.search(question, k=1)[0].doc_id == "n46_hydrova_eib_loan_en"
    a = qa.answer(question, hydrova)
    assert not a.abstained and a.citations[0].doc_id == "n46_hydrova_eib_loan_en" and "megawatt" in a.quotes[0].text, a.text


def test_with_the_language_left_in_the_french_article_comes_first(hydrova: qa.Retriever) -> None:
    """What the direction changes: the same index searched with the language left in the vectors."""
    direction, hydrova.direction = hydrova.direction, None
    try:
        first = hydrova.search("Quelle est la capacité de l'électrolyseur de Dunkerque ?", k=1)[0]
    finally:
        hydrova.direction = direction
    assert first.doc_id == "n44_hydrova_electrolyseur_fr"


def test_the_direction_applies_to_the_model_it_was_measured_on_only() -> None:
    d = language_direction(e5_small_id())
    assert d is not None and d.vector.shape == (384,) and abs(float(np.linalg.norm(d.vector)) - 1) < 1e-5
    assert language_direction("sentence-transformers:all-MiniLM-L6-v2") is None


def test_the_training_command_rebuilds_the_shipped_direction(tmp_path: Path) -> None:
    out = tmp_path / "direction.json"
    subprocess.run([sys.executable, "-m", "training.language_direction", "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    built, shipped = json.loads(out.read_text()), json.loads(DIRECTION_FILE.read_text())
    assert built["model"] == shipped["model"] and built["pairs"] == shipped["pairs"] == 240
    assert np.allclose(built["vector"], shipped["vector"], atol=2e-6)
