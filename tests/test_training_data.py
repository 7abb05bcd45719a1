"""The questions written here for training the reader (bench/questions/piaf_train_written.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WRITTEN = ROOT / "bench" / "questions" / "piaf_train_written.jsonl"
PIAF = ROOT.parent / "shared" / "eval" / "piaf"

pytestmark = pytest.mark.skipif(not (PIAF / "corpus").is_dir(), reason="the PIAF collection is not beside the project")


def written() -> list[dict]:
    return [json.loads(line) for line in WRITTEN.open(encoding="utf-8")]


def test_written_questions_are_only_on_train_articles() -> None:
    assert {q["doc"].split("_")[1] for q in written()} == {"train"}


def test_each_written_answer_is_verbatim_in_its_article_after_its_context() -> None:
    for q in written():
        text = (PIAF / "corpus" / f"{q['doc']}.txt").read_text(encoding="utf-8")
        start = text.find(q.get("context", ""))
        assert start >= 0 and text.find(q["answers"][0], start) >= 0, q["id"]


def test_written_question_ids_are_unique_and_say_their_language() -> None:
    rows = written()
    assert len({q["id"] for q in rows}) == len(rows)
    assert all(q["id"].startswith("en-") == (q["lang"] == "en") for q in rows)


def test_no_written_question_repeats_a_piaf_question() -> None:
    piaf = {json.loads(line)["question"].strip().lower() for line in (PIAF / "questions.jsonl").open(encoding="utf-8")}
    assert not [q["question"] for q in written() if q["question"].strip().lower() in piaf]


def test_the_english_questions_the_confidence_can_fit_on_are_ones_the_shipped_reader_never_trains_on() -> None:
    from bench.fit_confidence import english_questions

    trained = {json.loads(line)["id"] for line in (ROOT / "bench" / "questions" / "piaf_train_en_reader.jsonl").open(encoding="utf-8")}
    more = english_questions(more=True)
    assert len(more) == len({q["id"] for q in more}) == 393
    assert {q["lang"] for q in more} == {"en"} and not trained & {q["id"] for q in more}
    assert {q["id"] for q in english_questions()} < {q["id"] for q in more}
