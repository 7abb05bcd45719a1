"""The synthetic cloze questions the reader can learn on first (bench/cloze.py, `--cloze`)."""

from __future__ import annotations

import random

from bench.cloze import cloze_question, gaps

SENTENCE = "Le traité fut signé à Paris le 12 juillet 1690 par Louis XIV, qui régnait depuis 1643 sur 20 millions de sujets."


def cut(kind: str) -> list[str]:
    return [SENTENCE[a:z] for k, a, z in gaps(SENTENCE) if k == kind]


def test_gaps_are_the_dates_years_quantities_and_names_without_overlap() -> None:
    assert cut("date") == ["12 juillet 1690"]
    assert cut("year") == ["1643"]
    assert cut("number") == ["20 millions"]
    assert cut("name") == ["Paris", "Louis XIV"]


def test_the_sentence_s_first_word_is_never_a_gap() -> None:
    assert all(a > 0 for _, a, _ in gaps("Pendant ce temps, Victor Hugo écrivait à Guernesey."))


def test_a_place_after_a_preposition_is_asked_with_ou_and_the_answer_is_gone() -> None:
    kind, a, z = next(g for g in gaps(SENTENCE) if SENTENCE[g[1] : g[2]] == "Paris")
    question = cloze_question(SENTENCE, kind, a, z, random.Random(0))
    assert question.startswith("Où ") and question.endswith(" ?")
    assert "Paris" not in question and " à " not in f" {question} "
