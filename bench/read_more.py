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
from dataclasses import replace
from typing import Any

import numpy as np

from bench.piaf import PIAF_QUESTIONS, UNANSWERABLE_DEV
from qa.config import Settings
from qa.retrieval import Hit, Retriever


class NeighbourRetriever(Retriever):
    """The product's search, plus the article neighbours of its first passages when the answer step
    asks: the first `found` passages, then the neighbours of the first `around` of them."""

    def __init__(self, base: Retriever, settings: Settings, found: int, around: int) -> None:
        # The loaded index and model are shared (and so is the reader, loaded once per engine).
        super().__init__(base.stored, base.embedder, settings, base.index_dir)
        self.found, self.around = found, around

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


def measured(base: Retriever, questions: list[dict], found: int, around: int, threshold: bool) -> dict[str, Any]:
    """`qa eval`'s figures on PIAF dev for one way of reading; without `threshold`, nothing is declined."""
    from qa.answer import answer
    from qa.evaluation import Response, score_run

    r = NeighbourRetriever(base, replace(base.settings, min_confidence=-1.0 if threshold else 0.0), found, around)
    res = score_run(questions, lambda q: r.search(q, k=10), lambda q: Response.of(answer(q, r)))
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


def piaf_dev() -> tuple[Retriever, list[dict]]:
    """The PIAF dev collection's index, built if need be, with the defaults; and its questions."""
    from qa.answer import answer
    from qa.evaluation import eval_collection, load_questions
    from qa.indexing import build_index

    questions = load_questions(PIAF_QUESTIONS, "dev") + load_questions(UNANSWERABLE_DEV)
    folder = eval_collection(PIAF_QUESTIONS, [q for q in questions if q.get("doc")])
    assert folder is not None, "no PIAF corpus beside the questions"
    settings = Settings.from_env(seeds_dir=folder / "seeds", index_dir=folder / "index")
    build_index(settings.seeds_dir, settings.index_dir, settings)
    base = Retriever.load(settings.index_dir, settings)
    answer("warm-up", base)  # the first answer pays for loading the reader; latency is about the rest
    return base, questions


def main() -> None:
    import datetime

    from bench.common import RESULTS

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    base, questions = piaf_dev()
    rows = []
    for found, around in VARIANTS:
        for threshold in (True, False):
            rows.append(measured(base, questions, found, around, threshold))
            print(json.dumps(rows[-1]), flush=True)
    out = RESULTS / "reading_variants.json"
    # What the numbers mean is written by hand into the file's "finding"; a rerun keeps it.
    finding = json.loads(out.read_text()).get("finding", "") if out.exists() else ""
    out.write_text(json.dumps({"date": datetime.date.today().isoformat(), "finding": finding, "variants": rows}, indent=1) + "\n")
    print(f"wrote {out}; `python -m bench --report-only` puts it in bench/RESULTS.md")


if __name__ == "__main__":
    main()
