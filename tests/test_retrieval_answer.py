import numpy as np
import pytest

import qa
from qa.evaluation import evidence_rank, has_key, load_questions
from tests.conftest import AFP_ID, DEV, MS_ID


def test_search_returns_passages_best_first_with_metadata_and_offsets(retriever: qa.Retriever) -> None:
    hits = retriever.search("Combien Microsoft va-t-il investir au Japon ?", k=5)
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    top = hits[0]
    assert "2,9 milliards" in top.text and top.doc_id in (MS_ID, AFP_ID)
    assert top.title and top.end - top.start == len(top.text)


def test_search_finds_french_passages_for_english_questions(retriever: qa.Retriever) -> None:
    hits = retriever.search("How much will Amazon Web Services invest in Japan, and by when?", k=3)
    assert "15 milliards" in hits[0].text


def test_search_never_returns_overlapping_passages_of_one_article(retriever: qa.Retriever) -> None:
    hits = retriever.search("Microsoft intelligence artificielle Japon", k=10)
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            if a.doc_id == b.doc_id:
                shared = min(a.end, b.end) - max(a.start, b.start)
                assert shared <= 0.3 * min(a.end - a.start, b.end - b.start)


def test_the_query_vector_is_what_the_index_is_searched_with(retriever: qa.Retriever) -> None:
    q = "Who is the president of Microsoft?"
    v = retriever.embedder.embed_query(q)
    assert v.shape == (384,) and v.dtype == np.float32 and abs(np.linalg.norm(v) - 1) < 1e-4
    assert [h.start for h in retriever.search_vector(v, 3)] == [h.start for h in retriever.search(q, 3)]


def test_an_answer_quotes_the_article_with_its_citation_marker(retriever: qa.Retriever) -> None:
    a = qa.answer("Quel premier ministre japonais était en visite à Washington ?", retriever)
    assert not a.abstained and "Kishida" in a.text and "[1]" in a.text
    assert a.citations[0].doc_id == AFP_ID
    quote = a.quotes[0]
    assert retriever.stored.articles[AFP_ID] and quote.text in a.citations[0].text


def test_a_fact_both_articles_state_is_cited_from_both(retriever: qa.Retriever) -> None:
    a = qa.answer("Combien Microsoft va-t-il investir au Japon ?", retriever)
    assert {c.doc_id for c in a.citations} == {MS_ID, AFP_ID}
    assert "[1]" in a.text and "[2]" in a.text


def test_a_question_the_articles_do_not_answer_is_declined_in_english(retriever: qa.Retriever) -> None:
    a = qa.answer("What is the capital of Australia?", retriever)
    assert a.abstained and a.citations == [] and a.lang == "en" and "don't say" in a.text


def test_a_question_the_articles_do_not_answer_is_declined_in_french(retriever: qa.Retriever) -> None:
    a = qa.answer("Quelle est la recette de la ratatouille ?", retriever)
    assert a.abstained and a.lang == "fr" and "ne le disent pas" in a.text


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_an_empty_question_is_refused_with_a_value_error(retriever: qa.Retriever, question: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        qa.answer(question, retriever)
    with pytest.raises(ValueError):
        retriever.search(question)


def test_a_100k_character_question_still_gets_an_answer(retriever: qa.Retriever) -> None:
    question = "How much will Amazon Web Services invest in Japan? " + "blah " * 20_000
    assert len(question) > 100_000
    a = qa.answer(question, retriever)
    assert not a.abstained and "15 milliards" in a.text


@pytest.mark.parametrize("question", [123, None, b"AWS", ["AWS"]])
def test_what_is_not_text_is_refused_as_a_question_error(retriever: qa.Retriever, question: object) -> None:
    with pytest.raises(qa.QuestionError):
        qa.answer(question, retriever)  # type: ignore[arg-type]


def test_a_lone_surrogate_does_not_break_the_answer(retriever: qa.Retriever) -> None:
    a = qa.answer("\ud800 How much will AWS invest in Japan?", retriever)
    assert not a.abstained and "15 milliards" in a.text


def test_asking_for_no_passages_returns_none(retriever: qa.Retriever) -> None:
    assert retriever.search("AWS", k=0) == []


def test_a_follow_up_is_understood_with_the_previous_question(retriever: qa.Retriever) -> None:
    a = qa.answer("Et AWS ?", retriever, history=["Combien Microsoft va-t-il investir au Japon ?"])
    assert not a.abstained and "15 milliards" in a.text


def test_dev_questions_meet_the_quality_bar(tmp_path, settings: qa.Settings) -> None:  # type: ignore[no-untyped-def]
    """The product's promise on the dev file: right passage first ≥ 0.85 (first among the passages the
    answer ranks, as `qa eval`'s hit@1 counts it), every right passage but one in the search's first
    three, answers ≥ 0.85, abstentions ≥ 3/4. (d15's total, 17,9 milliards, is written only in a
    headline and a footer, which are in no passage.)"""
    if not DEV.exists():
        pytest.skip(f"no dev questions at {DEV}")
    from tests.conftest import SEEDS

    qa.build_index(SEEDS, tmp_path / "index", settings)
    r = qa.Retriever.load(tmp_path / "index", settings)
    questions = load_questions(DEV)
    answerable = [q for q in questions if q["answerable"]]
    ranks = [evidence_rank(r.search(q["question"], k=10), q) for q in answerable]
    answers = {q["id"]: qa.answer(q["question"], r) for q in questions}
    read_first = [evidence_rank(answers[q["id"]].passages, q) == 1 for q in answerable]
    assert sum(read_first) / len(answerable) >= 0.85
    assert sum(rank is not None and rank <= 3 for rank in ranks) >= len(ranks) - 1
    correct = [q for q in answerable if not answers[q["id"]].abstained and has_key(answers[q["id"]].text, q["answer_keys"])]
    assert len(correct) / len(answerable) >= 0.85
    assert not any(answers[q["id"]].abstained for q in answerable)
    assert sum(answers[q["id"]].abstained for q in questions if not q["answerable"]) >= 3
