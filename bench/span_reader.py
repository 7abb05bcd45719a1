"""A second reader for the short answer only: `python -m bench.span_reader READER.npz [--min-margin M]`.

The product answers PIAF dev's answerable questions as it ships (passage, sentence, confidence and
short answer from qa/data/reader.npz); then READER reads the quoted passage again, its best span
is taken inside the quoted sentence, and that span is scored as the short answer instead (shown
when its margin is at least M, the display threshold `python -m bench.fit_confidence` fitted for
READER). The quoted sentences, the abstentions and the confidence stay the shipped ones, so this
measures what a reader that reads spans better (a soup, bench/soup.py) would give the short answer
without its losses in the choice and the abstention. Measured in bench/RESULTS.md ("Reader
variants tried", row 23); nothing here is the default.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIAF = ROOT.parent / "shared" / "eval" / "piaf" / "questions.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reader", type=Path, help="the second reader's file (bench/train_reader.py or bench/soup.py)")
    ap.add_argument(
        "--min-margin", type=float, default=-0.833, help="show its span from this margin (its fitted span_min_margin)"
    )
    args = ap.parse_args(argv)

    import qa
    from qa.answer import headings
    from qa.evaluation import eval_collection, exact_match, load_questions, token_f1
    from qa.reader import Reader

    questions = [q for q in load_questions(PIAF, split="dev") if q["answerable"]]
    folder = eval_collection(PIAF, questions)
    if folder is None:
        raise SystemExit(f"no corpus beside {PIAF}")
    retriever = qa.Retriever.load(folder / "index", qa.Settings.from_env(seeds_dir=folder / "seeds", index_dir=folder / "index"))
    second = Reader(engine=retriever.reader.engine, path=args.reader)
    scores: dict[str, list[tuple[float, ...]]] = {}
    seconds: list[float] = []
    for q in questions:
        a, golds = qa.answer(q["question"], retriever), q["answer_keys"]
        shipped_em = shipped_f1 = second_em = second_f1 = 0.0
        if not a.abstained and a.citations:
            hit, quote = a.citations[0], a.quotes[0]
            sentence = (quote.start - hit.start, quote.end - hit.start)
            if a.short_answer:
                shipped_em, shipped_f1 = exact_match(a.short_answer.text, golds), token_f1(a.short_answer.text, golds)
            t0 = time.perf_counter()
            span = second.read_parts(q["question"], [hit.text], [headings(hit)], [[sentence]])[0][0]
            seconds.append(time.perf_counter() - t0)
            if span.margin >= args.min_margin and span.end > span.start:
                text = hit.text[span.start : span.end]
                second_em, second_f1 = exact_match(text, golds), token_f1(text, golds)
        scores.setdefault(q["lang"], []).append((shipped_em, shipped_f1, second_em, second_f1))
    for lang, rows in sorted(scores.items(), reverse=True):
        em, f1, em2, f12 = (sum(col) / len(rows) for col in zip(*rows, strict=True))
        print(
            f"{lang} ({len(rows)}): short answer EM / F1 shipped {em:.3f} / {f1:.3f}, from {args.reader.name} {em2:.3f} / {f12:.3f}"
        )
    print(f"the second reading: {1000 * statistics.median(seconds):.0f} ms p50 per answer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
