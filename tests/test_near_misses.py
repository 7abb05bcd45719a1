"""Near misses made for training the reader (`python -m bench.train_reader --swapped`)."""

from __future__ import annotations

import random

from bench.train_reader import swapped_question

ARTICLE = (
    "Lutte ouvrière est un parti fondé par Robert Barcia. En 2008, le parti présente près de 5 000 "
    "candidats sur 188 listes, et Nathalie Arthaud devient sa porte-parole en 2008."
)
WINDOW = "En 2008, le parti présente près de 5 000 candidats sur 188 listes."


def test_a_year_the_passage_writes_is_swapped_for_one_it_does_not() -> None:
    swapped = swapped_question("Combien de candidats le parti présente-t-il en 2008 ?", WINDOW, ARTICLE, random.Random(1))
    assert swapped is not None and swapped != "Combien de candidats le parti présente-t-il en 2008 ?"
    year = swapped.split("en ")[-1].rstrip(" ?")
    assert year.isdigit() and year not in WINDOW and abs(int(year) - 2008) <= 30


def test_a_name_is_swapped_for_another_name_of_the_article_absent_from_the_passage() -> None:
    window = "Robert Barcia fonde le parti Lutte ouvrière, dont il reste le dirigeant jusqu'à sa mort."
    question = "Qui a fondé le parti avec Robert Barcia ?"
    for seed in range(5):
        swapped = swapped_question(question, window, ARTICLE, random.Random(seed))
        assert swapped is not None and swapped != question
        new = [w for w in swapped.rstrip(" ?").split() if w not in question.split()]
        assert len(new) == 1 and new[0] in ARTICLE and new[0] not in window


def test_a_question_whose_names_the_passage_does_not_write_gives_no_near_miss() -> None:
    assert swapped_question("Qui dirige le parti depuis Paris ?", WINDOW, ARTICLE, random.Random(0)) is None
