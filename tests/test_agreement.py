"""Sources compared: the values two articles give, made comparable across languages and wordings."""

from __future__ import annotations

import pytest

import qa
from qa.agreement import agreement, value_of


@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [
        ("2,9 milliards de dollars", "$2.9 billion", "agree"),
        ("2,9 milliards de dollars", "3 milliards de dollars", "differ"),
        ("¥400 billion", "400 milliards de yens", "agree"),
        ("1 400", "1,400", "agree"),
        ("10 avril", "April 10", "agree"),
        ("10 avril 2024", "11 avril 2024", "differ"),
        ("Alstom", "le groupe Alstom", "agree"),
        ("Alstom", "Siemens", "differ"),
        ("$2.6 billion", "¥400 billion", None),  # a conversion, not a disagreement
        ("2,9 milliards de dollars", "Brad Smith", None),
    ],
)
def test_values_are_compared_across_languages_and_wordings(a: str, b: str, verdict: str | None) -> None:
    assert agreement([value_of(a), value_of(b)]) == verdict


def test_a_weekday_is_resolved_against_the_articles_date() -> None:
    # Published Thursday 11 April 2024: "mardi" is Tuesday 9 April.
    assert agreement([value_of("mardi", "2024-04-11"), value_of("9 avril", "2024-04-12")]) == "agree"
    assert agreement([value_of("mardi", "2024-04-11"), value_of("10 avril", "2024-04-12")]) == "differ"


def test_the_seeds_agree_on_microsofts_investment(retriever: qa.Retriever) -> None:
    a = qa.answer("Combien Microsoft va-t-il investir au Japon ?", retriever)
    assert a.agreement == "agree" and len(a.versions) == 2
    assert {v.short_answer.text for v in a.versions if v.short_answer} == {"2,9 milliards de dollars"}
    assert {a.citations[v.citation - 1].doc_id for v in a.versions} == {"000_1c9e95e5bcef29b5", "003_0b665f5c37c4620f"}
    assert "Les sources concordent" in a.full_text()
    d = a.to_dict()
    assert d["agreement"] == "agree" and [v["citation"] for v in d["versions"]] == [1, 2]
