"""bench/train_retriever.py trains the search's encoder on the score the product searches with."""

from __future__ import annotations

import numpy as np
import pytest

import qa

torch = pytest.importorskip("torch")


def test_training_scores_passages_as_the_search_does(retriever: qa.Retriever) -> None:
    from bench.train_retriever import search_scores

    stored = retriever.stored
    question = "Combien AWS va-t-il investir au Japon ?"
    hits = retriever.search(question, k=4)
    owner = np.repeat(np.arange(len(stored.passages)), np.diff(stored.sentence_rows))
    scores = search_scores(
        torch.from_numpy(retriever.embedder.embed_query(question)[None, :].astype(np.float32)),
        torch.from_numpy(np.array(stored.vectors, np.float32)),
        torch.from_numpy(np.array(stored.sentence_vectors, np.float32)),
        torch.from_numpy(owner),
    )[0].numpy()
    for hit in hits:
        assert abs(scores[hit.passage_no] - hit.score) < 1e-5
    assert int(np.argmax(scores)) == hits[0].passage_no


def test_a_batch_holds_every_passage_of_its_articles_and_only_their_questions() -> None:
    import random

    from bench.train_retriever import ARTICLES_PER_BATCH, QUESTIONS_PER_ARTICLE, batches

    docs = [f"a{i}" for i in range(10) for _ in range(3)]
    rows = [{"doc": f"a{i}", "positives": [3 * i]} for i in range(10) for _ in range(20)]
    plan = batches({"docs": docs, "rows": rows}, random.Random(0))
    assert sorted(p for passages, _ in plan for p in passages) == list(range(30))
    for passages, questions in plan:
        articles = {docs[p] for p in passages}
        assert len(articles) <= ARTICLES_PER_BATCH and len(passages) == 3 * len(articles)
        assert {rows[q]["doc"] for q in questions} == articles and len(questions) == QUESTIONS_PER_ARTICLE * len(articles)
