"""The questions written here for training (training/questions/), and training/ standing apart from bench/."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "training" / "questions"
PIAF = ROOT.parent / "shared" / "eval" / "piaf"

needs_piaf = pytest.mark.skipif(not (PIAF / "corpus").is_dir(), reason="the PIAF collection is not beside the project")


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (QUESTIONS / name).open(encoding="utf-8") if line.strip()]


def test_training_imports_nothing_from_bench() -> None:
    for path in sorted((ROOT / "training").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in names if m == "bench" or m.startswith("bench.")], path.name


def test_question_ids_are_unique_in_each_file_and_say_their_language() -> None:
    for path in sorted(QUESTIONS.glob("*.jsonl")):
        questions = rows(path.name)
        assert questions and len({q["id"] for q in questions}) == len(questions), path.name
        assert all(q["lang"] in ("fr", "en") for q in questions), path.name
    assert all(q["id"].startswith("en-") and q["lang"] == "en" for name in ("piaf_train_en.jsonl", "piaf_train_en_reader.jsonl") for q in rows(name))


@needs_piaf
def test_each_english_translation_the_reader_trains_on_is_of_a_piaf_train_question() -> None:
    piaf = {q["id"]: q for q in map(json.loads, (PIAF / "questions.jsonl").open(encoding="utf-8"))}
    translations = rows("piaf_train_en_reader.jsonl")
    assert len(translations) == 240
    for t in translations:
        source = piaf[t["source"]]
        assert source["split"] == "train" and source["doc"] == t["doc"] and source["answers"] == t["answers"], t["id"]


@needs_piaf
def test_the_english_questions_the_confidence_fits_on_are_on_train_articles_and_never_trained_on() -> None:
    trained = {q["id"] for q in rows("piaf_train_en_reader.jsonl")}
    fitted = rows("piaf_train_en.jsonl")
    assert len(fitted) == 32 and not trained & {q["id"] for q in fitted}
    for q in fitted:
        text = (PIAF / "corpus" / f"{q['doc']}.txt").read_text(encoding="utf-8")
        assert "_train_" in q["doc"] and q["answers"][0] in text, q["id"]


def test_the_news_questions_are_answered_verbatim_by_the_seeds_or_the_near_topic_news() -> None:
    texts = [f.read_text(encoding="utf-8") for d in (ROOT / "seeds", ROOT / "bench" / "distractors") for f in sorted(d.iterdir()) if f.is_file()]
    for q in rows("news_train.jsonl"):
        assert q["answerable"] and any(a in t for a in q["answers"] for t in texts), q["id"]
    assert {q["collection"] for q in rows("unanswerable_train.jsonl")} == {"seeds", "piaf_train"}
