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
