"""PIAF dev, side by side: this project, the tutorial stack and BM25 on public French QA data.

The 30 dev articles of ../shared/eval/piaf, indexed as one collection; their 150 French questions,
the 30 English ones, and the 20 unanswerable questions written about those articles
(bench/questions/unanswerable_dev.jsonl). Scores per language, as `qa eval` computes them.
The baselines answer with their first passage (a tutorial shows it whole) and never abstain, so
their "first quoted sentence" is that whole passage and they have no short answer.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import ROOT

PIAF_QUESTIONS = ROOT.parent / "shared" / "eval" / "piaf" / "questions.jsonl"
UNANSWERABLE_DEV = ROOT / "bench" / "questions" / "unanswerable_dev.jsonl"


def reader_facts() -> dict[str, Any]:
    from qa.reader import READER_FILE, SPAN_READER_FILE, reader_file

    meta = reader_file(READER_FILE, weights=False)[1]
    facts = {"reader_mb": READER_FILE.stat().st_size / 1e6, **meta}
    if SPAN_READER_FILE.is_file():
        span = reader_file(SPAN_READER_FILE, weights=False)[1]
        # A soup's training time is both runs'; the first run is the reader's.
        second = float(span.get("train_minutes", 0)) - float(meta.get("train_minutes", 0))
        facts.update(span_reader_mb=SPAN_READER_FILE.stat().st_size / 1e6, span_reader_minutes=round(second, 1))
    return facts


def run(systems: Sequence[str] = ("project", "tutorial", "bm25"), quick: bool = False, log=print) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """None when the PIAF data is not beside the project (../shared/eval/piaf)."""
    from bench.systems import make
    from qa.evaluation import eval_collection, load_questions, score_run

    if not PIAF_QUESTIONS.exists():
        log(f"piaf: no questions at {PIAF_QUESTIONS}, skipped")
        return None
    if quick:
        systems = [s for s in systems if s != "tutorial"]  # the smoke run checks the code, not torch's import
    questions = load_questions(PIAF_QUESTIONS, "dev") + load_questions(UNANSWERABLE_DEV)
    if quick:
        questions = questions[:6] + questions[-2:]
    folder = eval_collection(PIAF_QUESTIONS, [q for q in questions if q.get("doc")])
    assert folder is not None, "no PIAF corpus beside the questions"
    out: dict[str, Any] = {"questions": len(questions), "articles": len({q["doc"] for q in questions if q.get("doc")}), "systems": {}}
    with tempfile.TemporaryDirectory(prefix="qa-piaf-") as d:
        for key in systems:
            system = make(key)
            t0 = time.perf_counter()
            passages = system.build(folder / "seeds", Path(d) / key)
            build_s = time.perf_counter() - t0
            system.load(Path(d) / key)
            system.answer("warm-up")
            res = score_run(questions, lambda q, s=system: s.search(q, 10), system.answer)
            rows = res.pop("rows")
            out["systems"][key] = {
                "name": system.name,
                "passages": passages,
                "build_s": build_s,
                **res,
                "answer_p50_ms_all": 1000 * statistics.median(r["answer_s"] for r in rows),
            }
            by = res.get("by_lang", {})
            log(f"  piaf {key}: " + "  ".join(
                f"{lang} hit@1 {g['hit@1']:.3f} holds {g['sentence_holds_answer']:.3f} F1 {g['short_f1']:.3f}" for lang, g in by.items()
            ))
    out["reader"] = reader_facts()
    return out
