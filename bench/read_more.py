"""Answer-time variant, measured and not shipped: read the neighbours of the first passages found.

`python -m bench.read_more` answers PIAF dev (its 150 French questions,
30 English ones and the 20 unanswerable ones written here) as `qa eval` does, except that the
reader also reads the passages just before and after each of the first few passages found
(those of the same article not already found), each scored against the question as search scores
passages. The shipped product reads the first 4 passages found and nothing else.

Why: of the 22 French dev questions whose answer is in none of the 4 passages read, 7 have it in a
neighbour of the first one and 4 more in a neighbour of the second, while 12 have it in none of the
first 20 passages found: the next passage of the article is a likelier place for the answer than
the fifth passage found. Results in bench/RESULTS.md ("Reading more at answer time").
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from bench.piaf import PIAF_QUESTIONS, UNANSWERABLE_DEV
from qa.retrieval import Hit, Retriever


class NeighbourRetriever(Retriever):
    """The product's search, plus the article neighbours of its first passages when the answer step asks."""

    found = 4
    around = 1

    def search_vector(self, vector: np.ndarray, k: int | None = None) -> list[Hit]:
        if k != self.settings.top_k:
            return super().search_vector(vector, k)
        hits = super().search_vector(vector, self.found)
        q = np.asarray(vector, np.float32).reshape(-1)
        passages = self.stored.passages
        seen = {h.passage_no for h in hits}
        extra = []
        for h in hits[: self.around]:
            for j in (h.passage_no - 1, h.passage_no + 1):
                if 0 <= j < len(passages) and passages[j].doc_id == h.doc_id and j not in seen:
                    seen.add(j)
                    extra.append(self._scored(j, float(self.stored.vectors[j] @ q), q))
        return hits + extra


VARIANTS = ((4, 0), (4, 1), (4, 2), (3, 1))  # (passages found, how many of them get their neighbours read)


def measured(found: int, around: int, threshold: bool) -> dict[str, Any]:
    """`qa eval`'s figures on PIAF dev for one way of reading; without `threshold`, nothing is declined."""
    from qa.answer import answer
    from qa.config import Settings
    from qa.evaluation import Response, eval_collection, load_questions, score_run
    from qa.indexing import build_index

    questions = load_questions(PIAF_QUESTIONS, "dev") + load_questions(UNANSWERABLE_DEV)
    folder = eval_collection(PIAF_QUESTIONS, [q for q in questions if q.get("doc")])
    assert folder is not None, "no PIAF corpus beside the questions"
    settings = Settings.from_env(seeds_dir=folder / "seeds", index_dir=folder / "index", min_confidence=None if threshold else 0.0)
    build_index(settings.seeds_dir, settings.index_dir, settings)
    NeighbourRetriever.found, NeighbourRetriever.around = found, around
    r = NeighbourRetriever.load(settings.index_dir, settings)
    answer("warm-up", r)

    def ans(q: str) -> Response:
        a = answer(q, r)
        return Response(a.text, a.abstained, a.quotes[0].text if a.quotes else "", a.short_answer.text if a.short_answer else "", a.passages, a.confidence)

    res = score_run(questions, lambda q: r.search(q, k=10), ans)
    keys = ("hit@1", "sentence_holds_answer", "short_f1", "false_abstentions")
    return {
        "found": found,
        "around": around,
        "threshold": threshold,
        **{lang: {k: res["by_lang"][lang][k] for k in keys} for lang in ("fr", "en")},
        "unanswerable_declined": res["abstained_unanswerable"],
        "unanswerable": res["unanswerable"],
        "answer_p50_ms": res["answer_p50_ms"],
    }


def main() -> None:
    import datetime

    from bench.common import RESULTS

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    rows = []
    for found, around in VARIANTS:
        for threshold in (True, False):
            rows.append(measured(found, around, threshold))
            print(json.dumps(rows[-1]), flush=True)
    out = RESULTS / "reading_variants.json"
    # What the numbers mean is written by hand into the file's "finding"; a rerun keeps it.
    finding = json.loads(out.read_text()).get("finding", "") if out.exists() else ""
    out.write_text(json.dumps({"date": datetime.date.today().isoformat(), "finding": finding, "variants": rows}, indent=1) + "\n")
    print(f"wrote {out}; `python -m bench --report-only` puts it in bench/RESULTS.md")


if __name__ == "__main__":
    main()
