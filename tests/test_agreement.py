"""Sources compared: the values two articles give, made comparable across languages and wordings."""

from __future__ import annotations

from pathlib import Path

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
        ("quatre terminaux", "four terminals", "agree"),  # numbers in words, either language
        ("quatre", "five", "differ"),
        ("décembre 2027", "December 2027", "agree"),  # a month and a year: not the 20th
        ("décembre 2027", "janvier 2028", "differ"),
    ],
)
def test_values_are_compared_across_languages_and_wordings(a: str, b: str, verdict: str | None) -> None:
    assert agreement([value_of(a), value_of(b)]) == verdict


def test_a_weekday_is_resolved_against_the_articles_date() -> None:
    # Published Thursday 11 April 2024: "mardi" is Tuesday 9 April.
    assert agreement([value_of("mardi", "2024-04-11"), value_of("9 avril", "2024-04-12")]) == "agree"
    assert agreement([value_of("mardi", "2024-04-11"), value_of("10 avril", "2024-04-12")]) == "differ"


def test_one_weekday_named_by_articles_of_one_week_is_the_same_day() -> None:
    # "have resumed on Wednesday" (published Thursday 4 July) and "expected to resume on Wednesday"
    # (published Tuesday 2 July): one Wednesday, 3 July, although the second reads as the week before.
    assert agreement([value_of("mercredi soir", "2024-07-04"), value_of("Wednesday evening", "2024-07-02")]) == "agree"
    assert agreement([value_of("mercredi", "2024-07-04"), value_of("Tuesday", "2024-07-02")]) == "differ"


def test_the_seeds_agree_on_microsofts_investment(retriever: qa.Retriever) -> None:
    a = qa.answer("Combien Microsoft va-t-il investir au Japon ?", retriever)
    assert a.agreement == "agree" and len(a.versions) == 2
    assert {v.short_answer.text for v in a.versions if v.short_answer} == {"2,9 milliards de dollars"}
    assert {a.citations[v.citation - 1].doc_id for v in a.versions} == {"000_1c9e95e5bcef29b5", "003_0b665f5c37c4620f"}
    assert "Les sources concordent" in a.full_text()
    d = a.to_dict()
    assert d["agreement"] == "agree" and [v["citation"] for v in d["versions"]] == [1, 2]


HINODE_FR = """Hinode Motors va construire une usine de batteries à Nagoya

NAGOYA, 9 avril 2024 (AFP) — Le constructeur japonais Hinode Motors investira 3 milliards de dollars dans une nouvelle usine de batteries à Nagoya, a annoncé mardi son directeur général, Kenji Arai.

L'usine emploiera 800 personnes et produira des batteries pour véhicules électriques à partir de 2026, selon l'entreprise.
"""
HINODE_EN = """Hinode Motors picks Nagoya for battery plant

TOKYO, April 10, 2024 (Reuters) — Japanese carmaker Hinode Motors will invest $3.5 billion in a new battery plant in Nagoya, chief executive Kenji Arai said on Tuesday.

The plant will employ 800 people and start producing batteries for electric vehicles in 2026, the company said.
"""


@pytest.fixture(scope="module")
def two_outlets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two outlets on one investment: different figures, the same head count."""
    root = tmp_path_factory.mktemp("two_outlets")
    (root / "seeds").mkdir()
    (root / "seeds" / "hinode_fr.txt").write_text(HINODE_FR, encoding="utf-8")
    (root / "seeds" / "hinode_en.txt").write_text(HINODE_EN, encoding="utf-8")
    qa.build_index(root / "seeds", root / "index", qa.Settings.from_env(env={}))
    return root


@pytest.mark.parametrize("question", ["Combien Hinode Motors va-t-il investir à Nagoya ?", "How much will Hinode Motors invest in Nagoya?"])
def test_two_articles_giving_different_figures_are_both_shown_as_differing(two_outlets: Path, question: str) -> None:
    r = qa.Retriever.load(two_outlets / "index", qa.Settings.from_env(env={}))
    a = qa.answer(question, r)
    assert a.agreement == "differ" and len(a.versions) == 2
    said = {v.short_answer.text for v in a.versions if v.short_answer}
    assert said == {"3 milliards de dollars", "$3.5 billion"}, said
    assert ("Les sources divergent" if a.lang == "fr" else "The sources differ") in a.full_text()


def test_the_same_count_in_two_languages_agrees(two_outlets: Path) -> None:
    r = qa.Retriever.load(two_outlets / "index", qa.Settings.from_env(env={}))
    a = qa.answer("Combien de personnes l'usine de Nagoya emploiera-t-elle ?", r)
    assert a.agreement == "agree" and {v.short_answer.text for v in a.versions if v.short_answer} == {"800 personnes", "800 people"}


@pytest.mark.process
def test_the_command_shows_both_versions_and_that_they_differ(two_outlets: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    args = [sys.executable, "-m", "qa.cli", "ask", "How much will Hinode Motors invest in Nagoya?", "--seeds", "seeds", "--index", "index"]
    text = subprocess.run(args, cwd=two_outlets, env=env, capture_output=True, text=True, timeout=300)
    assert text.returncode == 0 and "The sources differ:" in text.stdout and "$3.5 billion" in text.stdout, text.stderr
    out = json.loads(subprocess.run([*args, "--json"], cwd=two_outlets, env=env, capture_output=True, text=True, timeout=300).stdout)
    assert out["agreement"] == "differ" and len(out["versions"]) == 2
    assert {v["short_answer"]["text"] for v in out["versions"]} == {"3 milliards de dollars", "$3.5 billion"}
