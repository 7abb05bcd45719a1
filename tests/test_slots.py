"""The slot checks: what a question asks about and for, and whether a quoted sentence fills it."""

from __future__ import annotations

import pytest

from qa.slots import count_unfilled, counted, names_missing, question_names


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("How many people work at Varenne's plants in Morocco?", ["morocco", "varenne"]),
        ("Combien d'emplois le campus de Mulhouse créera-t-il ?", ["mulhouse"]),
        ("Combien les États-Unis apportent-ils au fonds de Lyon ?", ["etats unis", "lyon"]),
        ("Quel est le montant investi par AWS ?", ["aws"]),
        ("Combien de salariés ?", []),
    ],
)
def test_the_names_a_question_asks_about_leave_out_its_question_words(question: str, names: list[str]) -> None:
    assert question_names(question) == names


@pytest.mark.parametrize(
    ("names", "text", "missing"),
    [
        (["dresde"], "Hanei will build its fab in Dresden, Saxony.", 0.0),
        (["dunkerque"], "The Dunkirk electrolyser will supply a steelworks.", 0.0),
        (["germany"], "Le ministre allemand de l'Économie, à Berlin, en Allemagne.", 0.0),
        (["etats unis"], "the United States will contribute", 0.0),
        (["french", "fukuoka"], "quelque 450 entreprises françaises sont implantées à Fukuoka", 0.0),
        (["mulhouse"], "L'usine créera 2 000 emplois directs à Kumamoto.", 1.0),
        (["morocco", "varenne"], "Varenne shut seven of its eleven plants.", 0.5),
        ([], "anything", 0.0),
    ],
)
def test_a_name_is_found_in_either_language_and_a_missing_one_counts(names: list[str], text: str, missing: float) -> None:
    assert names_missing(names, text) == missing


def test_a_count_asks_for_the_thing_named_after_how_many() -> None:
    assert {"plaqu", "wafer"} <= counted("Combien de plaquettes par mois l'usine produira-t-elle ?")
    assert {"peopl", "emplo", "salar"} <= counted("How many people work at the plant?")
    assert "par" not in counted("Combien de plaquettes par mois ?") and "work" not in counted("How many people work there?")
    assert counted("Combien AWS va-t-il investir ?") == frozenset()


@pytest.mark.parametrize(
    ("question", "text", "number", "unfilled"),
    [
        ("How many people work at Varenne's plants?", "It shut seven of the company's eleven plants.", "eleven", True),
        ("How many people work at Varenne's plants?", "The group employs 4,200 people.", "4,200", False),
        ("Combien de personnes travaillent chez Varenne ?", "The group employs 4,200 people.", "4,200", False),
        ("Combien de plaquettes produira-t-elle ?", "KASM will process 40,000 twelve-inch wafers a month.", "40,000", False),
        ("Combien AWS va-t-il investir ?", "AWS investira 2 000 milliards de yens.", "2 000", False),
    ],
)
def test_a_number_fills_a_count_only_when_it_counts_what_is_asked(question: str, text: str, number: str, unfilled: bool) -> None:
    start = text.index(number)
    assert count_unfilled(counted(question), text, start, start + len(number)) is unfilled
