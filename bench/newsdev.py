"""The news collection's dev split (bench/news/): answers as a user gets them, and how sure they are.

Its 46 articles indexed as one collection (16 events, several outlets on each, French and English);
the dev split's questions (8 events: single facts, facts two outlets state, near misses, follow-ups,
questions on an article's outlet), scored as `qa eval` scores them, follow-ups after their earlier
turn. Nothing is fitted on this split: `training.confidence` reads the train split.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT

NEWS = ROOT / "bench" / "news"


def run(quick: bool = False, log=print) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    import qa
    from qa.evaluation import Response, load_questions, score_run

    questions = load_questions(NEWS / "questions.jsonl", "dev")
    if quick:
        questions = questions[:8]
    with tempfile.TemporaryDirectory(prefix="qa-news-") as d:
        settings = qa.Settings.from_env(env={}, seeds_dir=NEWS / "articles", index_dir=Path(d))
        qa.build_index(NEWS / "articles", Path(d), settings)
        r = qa.Retriever.load(Path(d), settings)

        def ask(question: str, history: list[str] | None = None) -> Response:
            return Response.of(qa.answer(question, r, history or ()))

        res = score_run(questions, lambda q: r.search(q, k=10), ask)
    res.pop("rows")
    kinds = res.get("by_kind", {})
    log(f"  news dev: hit@1 {res['hit@1']:.3f} right {res['answer_accuracy']:.3f} near misses declined "
        f"{kinds.get('near_miss', {}).get('abstained_unanswerable', 0)} of {res['unanswerable']}, ECE {res['ece']:.3f}")
    return {"articles": len(list((NEWS / "articles").iterdir())), **res}
