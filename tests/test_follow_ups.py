"""Two-turn conversations: the second question leans on the first."""

import qa

CONVERSATIONS = [
    ("Combien Microsoft va-t-il investir au Japon ?", "Et AWS ?", "15 milliards"),
    ("Who is Brad Smith?", "What did he say about China?", "Chine"),
    ("Quel premier ministre japonais était en visite à Washington ?", "Qu'a-t-il dit sur son pays ?", "puissance majeure"),
    ("Which national laboratories are collaborating?", "And which universities?", "Tsukuba"),
    ("How much will Microsoft invest in Japan?", "And Amazon Web Services?", "15 milliards"),
    ("Who criticised Microsoft for a cascade of avoidable errors?", "Who were the hackers?", "pirates chinois"),
]


def test_follow_ups_are_answered_in_context(retriever: qa.Retriever) -> None:
    """Reported figure: how many of the conversations pass (5 of 6 when this was written)."""
    failed = []
    for first, second, key in CONVERSATIONS:
        a = qa.answer(second, retriever, history=[first])
        if a.abstained or key not in a.text:
            failed.append(second)
    print(f"follow-ups answered: {len(CONVERSATIONS) - len(failed)}/{len(CONVERSATIONS)}; missed: {failed}")
    assert len(failed) <= 1, failed


def test_the_first_follow_up_of_the_spec_is_answered(retriever: qa.Retriever) -> None:
    a = qa.answer("Et AWS ?", retriever, history=["Combien Microsoft va-t-il investir au Japon ?"])
    assert "15 milliards" in a.text


def test_a_new_topic_after_a_conversation_is_not_blended(retriever: qa.Retriever) -> None:
    a = qa.answer("What is the capital of Australia?", retriever, history=["Combien Microsoft va-t-il investir au Japon ?"])
    assert a.abstained


STANDALONE = [
    ("Which companies will supply GPUs to Japanese firms?", "Who is Brad Smith?"),
    ("Et AWS ?", "Who is Brad Smith?"),
    ("Combien Microsoft va-t-il investir au Japon ?", "How much will Amazon Web Services invest in Japan, and by when?"),
    ("Who is Brad Smith?", "Quelles entreprises japonaises recevront des GPU de NVIDIA ?"),
    ("Quel premier ministre japonais était en visite à Washington ?", "Which national laboratories are collaborating?"),
]


def test_a_question_on_another_subject_is_answered_as_if_asked_alone(retriever: qa.Retriever) -> None:
    for earlier, question in STANDALONE:
        alone = qa.answer(question, retriever)
        after = qa.answer(question, retriever, history=["Combien d'emplois ?", earlier])
        assert (after.text, after.short_answer, after.lang, after.abstained) == (alone.text, alone.short_answer, alone.lang, alone.abstained), question
        assert after.confidence == alone.confidence and after.citations == alone.citations


def test_the_answer_is_in_the_questions_own_language_whatever_came_before(retriever: qa.Retriever) -> None:
    french_turns = ["Combien Microsoft va-t-il investir au Japon ?", "Et AWS ?"]
    assert qa.answer("Who is Brad Smith?", retriever, history=french_turns).lang == "en"
    assert qa.answer("What is the capital of Peru?", retriever, history=french_turns).text.startswith("The articles don't say")
    assert qa.answer("Et Microsoft ?", retriever, history=["How much will AWS invest in Japan?"]).lang == "fr"


def test_an_ellipsis_is_read_as_the_previous_question_with_its_new_subject() -> None:
    from qa.follow_up import in_context

    def read(question: str, previous: str) -> str:
        return in_context(question, [previous], 2000).read

    assert read("Et AWS ?", "Combien Microsoft va-t-il investir au Japon ?") == "Combien AWS va-t-il investir au Japon ?"
    assert read("Et en Corée ?", "Combien Microsoft va-t-il investir au Japon ?") == "Combien Microsoft va-t-il investir en Corée ?"
    assert read("And in 2025?", "How much did Toyota invest in 2024?") == "How much did Toyota invest in 2025?"
    assert read("Et pour l'usine de Dunkerque ?", "Combien d'emplois créera l'usine de Douai ?") == "Combien d'emplois créera l'usine de Dunkerque ?"
    assert in_context("Quand est-il né ?", ["Qui a fondé Microsoft ?"], 2000).kind == "anaphor"
    for alone in ["Who is Brad Smith?", "De qui Pie IV est il l'oncle ?", "Comment les animaux peuvent ils être en meilleure santé ?", "Qu'y avait-il à la place ?"]:
        assert in_context(alone, ["Qui a fondé Microsoft ?"], 2000).kind == "", alone


def test_no_piaf_dev_question_leans_on_earlier_turns() -> None:
    """Asked after unrelated questions, each PIAF dev question stands on its own (the measured
    conversation mode, `qa eval --conversation`, then equals asking alone)."""
    from qa.evaluation import load_questions
    from qa.follow_up import in_context
    from tests.conftest import ROOT

    piaf = ROOT.parent / "shared" / "eval" / "piaf" / "questions.jsonl"
    if not piaf.exists():
        import pytest

        pytest.skip(f"no PIAF questions at {piaf}")
    leaning = [q["question"] for q in load_questions(piaf, "dev") if in_context(q["question"], ["Qui a fondé Microsoft ?"], 2000).kind]
    assert leaning == []
