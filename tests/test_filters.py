"""Ask within (issue 40): a question or a search restricted to chosen articles, a source or a date
range, searched within that choice. Python on the real index; the command in a subprocess. The JSON
API's `doc_ids`/`source`/`since`/`until` are tested on the real server in tests/test_chat_page.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import qa
from qa.retrieval import EXACT_WITHIN, Filters
from tests.conftest import AFP_ID, MS_ID, copy_corpus
from tests.test_cli import run

MALAYSIA = "d02_microsoft_malaisie"  # AFP, 2024-05: Microsoft invests 2,2 billion dollars in Malaysia
QUESTION = "Combien Microsoft va-t-il investir ?"


def test_a_question_asked_within_one_article_is_answered_from_it(retriever: qa.Retriever) -> None:
    everywhere = qa.answer(QUESTION, retriever)
    assert "2,9 milliards" in everywhere.text and everywhere.citations[0].doc_id != MALAYSIA
    within = qa.answer(QUESTION, retriever, filters=Filters(doc_ids=(MALAYSIA,)))
    assert "2,2 milliards" in within.text
    assert {h.doc_id for h in within.citations} == {MALAYSIA}
    assert {h.doc_id for h in within.passages} == {MALAYSIA}


def test_search_within_returns_only_the_chosen_articles_best_first(retriever: qa.Retriever) -> None:
    hits = retriever.search("investissement de Microsoft", k=5, filters=Filters(doc_ids=(MALAYSIA, AFP_ID)))
    assert hits and {h.doc_id for h in hits} <= {MALAYSIA, AFP_ID}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Within the choice, not a global top-k filtered afterwards: k passages of the chosen article
    # even when other articles' passages score higher.
    only = retriever.search("Amazon Web Services AWS", k=3, filters=Filters(doc_ids=(MALAYSIA,)))
    assert len(only) == min(3, retriever.articles[MALAYSIA]["passages"]) and {h.doc_id for h in only} == {MALAYSIA}


def test_source_matches_the_publisher_its_initials_or_its_site(retriever: qa.Retriever) -> None:
    afp = {h.doc_id for h in retriever.search("Microsoft", k=20, filters=Filters(source="AFP"))}
    assert afp and all(retriever.articles[d]["source"] == "Agence France-Presse" for d in afp)
    assert {h.doc_id for h in retriever.search("Microsoft", k=20, filters=Filters(source="cryptoslate"))} == {MS_ID}


def test_a_date_range_keeps_the_articles_dated_within_it(retriever: qa.Retriever) -> None:
    may = Filters(since="2024-05-01", until="2024-05-31")
    assert {h.doc_id for h in retriever.search("Microsoft investit", k=20, filters=may)} == {MALAYSIA}
    # An article dated "2024-04" is within "since 2024-04-10": its month overlaps the range.
    april = {h.doc_id for h in retriever.search("Microsoft investit", k=20, filters=Filters(since="2024-04-10", until="2024-04"))}
    assert AFP_ID in april and MALAYSIA not in april


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"since": "lundi"}, "since: 'lundi' is not a date"),
        ({"until": "2024-13-01"}, "until: '2024-13-01' is not a date"),
        ({"since": "2024-06", "until": "2024-05"}, "since 2024-06 is after until 2024-05"),
    ],
)
def test_bad_filter_values_are_one_clear_line(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(qa.QuestionError, match=message):
        Filters(**kwargs)


def test_an_unknown_article_or_a_choice_without_articles_is_a_question_error(retriever: qa.Retriever) -> None:
    with pytest.raises(qa.QuestionError, match="no article 'nope' in the index"):
        retriever.search("Microsoft", filters=Filters(doc_ids=("nope",)))
    with pytest.raises(qa.QuestionError, match=r"no article in the index is within the choice \(source Reuters\)"):
        qa.answer(QUESTION, retriever, filters=Filters(source="Reuters"))


def test_faiss_with_a_selector_finds_what_exact_scoring_finds(retriever: qa.Retriever) -> None:
    chosen = retriever.passages_within(Filters(doc_ids=(MALAYSIA, AFP_ID)))
    assert chosen is not None and len(chosen) <= EXACT_WITHIN
    q = retriever.embedder.embed_query("Microsoft investit en Malaisie").reshape(1, -1).astype(np.float32)
    exact = retriever.candidates_within(q, chosen, 5)
    selected = retriever.candidates_within(q, chosen, 5, exact_max=0)  # the path of large choices
    assert list(selected[1][0]) == list(exact[1][0])
    assert np.allclose(selected[0][0], exact[0][0], atol=1e-5)


def test_an_empty_choice_is_no_choice(retriever: qa.Retriever) -> None:
    assert not Filters() and Filters(doc_ids=[" ", ""]) == Filters()
    assert retriever.passages_within(Filters()) is None


# --- the command


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("filtered")
    copy_corpus(root / "seeds", (f"{MALAYSIA}.txt",))
    assert run(["index"], root).returncode == 0
    return root


@pytest.mark.process
def test_ask_doc_answers_from_that_article(project: Path) -> None:
    r = run(["ask", QUESTION, "--doc", MALAYSIA, "--json"], project)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert "2,2 milliards" in d["answer"] and {c["doc_id"] for c in d["citations"]} == {MALAYSIA}
    assert "2,9 milliards" in run(["ask", QUESTION], project).stdout


@pytest.mark.process
def test_search_source_since_until(project: Path) -> None:
    r = run(["search", "Microsoft", "-k", "10", "--source", "AFP", "--since", "2024-05", "--json"], project)
    assert r.returncode == 0, r.stderr
    assert {h["doc_id"] for h in json.loads(r.stdout)} == {MALAYSIA}
    r = run(["search", "Microsoft", "-k", "10", "--until", "2024-04-30", "--json"], project)
    assert MALAYSIA not in {h["doc_id"] for h in json.loads(r.stdout)}


@pytest.mark.process
@pytest.mark.parametrize(
    ("args", "message"),
    [(["--since", "yesterday"], "since: 'yesterday' is not a date"), (["--doc", "nope"], "no article 'nope' in the index")],
)
def test_bad_filters_on_the_command_line_are_one_line_and_exit_2(project: Path, args: list[str], message: str) -> None:
    r = run(["ask", QUESTION, *args], project)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
