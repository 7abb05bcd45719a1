"""Fit how answers are chosen and when to abstain: `python -m bench.fit_confidence`.

Writes qa/data/confidence.json from training data only:
- PIAF `train` (French questions on 131 articles, indexed as one collection), 700 of its questions
  (with --held-out, the 354 on the 25 articles a reader trained with --hold-out has not seen:
  bench/common.py, held_out_for_fitting), each asked twice: as is, and with every passage that
  holds the answer taken out of what the reader sees (a near miss made from real data: the same
  article, the fact missing);
- the English versions of 32 of those questions (bench/questions/piaf_train_en.jsonl); with
  --more-english, English translations of 393 train questions that the shipped reader does not
  train on (those and bench/questions/piaf_train_en_reader_extra.jsonl), so that the English side
  of the threshold rests on a few hundred right answers rather than on the lowest of 18 (measured
  in bench/RESULTS.md, "Reader variants tried": it declines fewer unanswerable questions, so it is
  not the default);
- unanswerable questions written about the train articles and the seeds
  (bench/questions/unanswerable_train.jsonl);
- 32 questions written about the near-topic news articles of bench/distractors/, asked of them
  together with the seeds (bench/questions/news_train.jsonl): news names several companies and
  figures per article, as PIAF's encyclopaedia articles rarely do, and tells whether the names the
  question shares with a sentence should count in the choice.
Fits, in order: the weights of the passage choice (the search score, the question's terms and names
in the quoted sentence, a span that is not the kind of answer asked for: most answers in the quoted
sentence), a logistic model of "the collection answers this" over the reader's and the search's
scores (scikit-learn), the abstention threshold (at most MAX_RIGHT_DECLINED of the answerable
training questions whose quoted sentence holds the answer declined, in either language), and the
margin under which the short answer is not shown (and, where a span reader is installed,
qa/data/span_reader.npz, the same for its margin: it gives the short answer then).
Deterministic: a fixed sample, no randomness in the fit.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import held_out_for_fitting, indexed_retriever

ROOT = Path(__file__).resolve().parent.parent
PIAF_QUESTIONS = ROOT.parent / "shared" / "eval" / "piaf" / "questions.jsonl"
QUESTIONS = ROOT / "bench" / "questions"
OUT = ROOT / "qa" / "data" / "confidence.json"
CACHE = ROOT / "bench" / ".cache" / "confidence"
SAMPLE = 700  # French train questions (of 1,826): enough for eight weights, and 4 minutes of reading
# The threshold declines at most this share of the answerable training questions whose answer
# would be right (per language): a wrong answer to an answerable question is better declined.
MAX_RIGHT_DECLINED = 0.02
SEED = 7


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def example(question: str, r, golds: list[str], answerable: bool, lang: str, drop_answer: bool = False) -> dict:  # type: ignore[no-untyped-def]
    """The readings of the top passages, with whether each one's quoted sentence holds a gold answer."""
    from qa.answer import quoted_range
    from qa.calibration import UNFITTED
    from qa.evaluation import has_key

    k = r.settings.top_k
    hits = r.search(question, k=3 * k if drop_answer else k)
    if drop_answer:
        hits = [h for h in hits if not has_key(h.text, golds)][:k]
    from qa.answer import read, span_reader_span

    readings = sorted(read(question, hits, r, UNFITTED), key=lambda x: x.rank)
    rows = []
    for rd in readings:
        s, e = quoted_range(rd.hit, rd.span)
        f = rd.features(hits[0], lang == "en")
        f["holds"] = bool(golds) and has_key(rd.hit.text[s:e], golds)
        f["short"] = rd.answer_text
        second = span_reader_span(rd, r)
        if second is not None:  # the span reader's short answer in the same quoted sentence, as qa.answer shows it
            f["span_reader_margin"], f["span_reader_short"] = second.margin, rd.hit.text[second.start : second.end]
        rows.append(f)
    return {"question": question, "answerable": answerable and not drop_answer, "lang": lang, "golds": golds, "readings": rows}


def collect(args: argparse.Namespace) -> list[dict]:
    import qa
    from qa.calibration import FEATURES
    from qa.evaluation import eval_collection, load_questions
    from qa.reader import READER_FILE, SPAN_READER_FILE

    # The readings depend on the reader, on what is measured of them and on how they are made
    # (qa/answer.py: the answer-type rules, say; qa/reader.py: how a sentence is scored): any of
    # them new, read again.
    answering = b"".join(Path(importlib.import_module(m).__file__ or "").read_bytes() for m in ("qa.answer", "qa.reader"))
    # So do the passages read: how the articles are cut and how many are read.
    settings = qa.Settings.from_env(env={})
    reading = json.dumps([settings.chunking_signature(), settings.top_k]).encode()
    inputs = hashlib.sha1(" ".join(FEATURES).encode() + answering + reading).hexdigest()[:8]
    readers = [f"{f.stat().st_size}-{int(f.stat().st_mtime)}" for f in (READER_FILE, SPAN_READER_FILE) if f.is_file()]
    stamp = f"{'-'.join(readers)}-{inputs}"
    english = english_questions(args.more_english)
    more = f"-en{len(english)}" if args.more_english else ""
    cache = CACHE / f"examples-{'held-out-' if args.held_out else ''}{args.sample}{more}-{stamp}.json"
    if cache.exists() and not args.fresh:
        return json.loads(cache.read_text())
    train = load_questions(PIAF_QUESTIONS, "train")
    pool = [q for q in train if held_out_for_fitting(q["doc"])] if args.held_out else train
    sample = random.Random(SEED).sample(pool, min(args.sample, len(pool)))
    unanswerable = load_questions(QUESTIONS / "unanswerable_train.jsonl")
    folder = eval_collection(PIAF_QUESTIONS, train)
    assert folder is not None
    t0 = time.time()
    r = indexed_retriever(folder / "seeds", folder / "index")
    log(f"train collection indexed in {time.time() - t0:.0f} s ({len(r)} passages)")
    out = []
    for n, q in enumerate(sample):
        out.append(example(q["question"], r, q["answers"], True, "fr"))
        out.append(example(q["question"], r, q["answers"], True, "fr", drop_answer=True))
        if n % 100 == 0:
            log(f"{n}/{len(sample)}")
    for q in english:
        out.append(example(q["question"], r, q["answers"], True, "en"))
        out.append(example(q["question"], r, q["answers"], True, "en", drop_answer=True))
    for q in unanswerable:
        if q.get("collection") == "piaf_train":
            out.append(example(q["question"], r, [], False, q["lang"]))
    seeds = indexed_retriever(ROOT / "seeds", CACHE / "seeds-index")
    for q in unanswerable:
        if q.get("collection") == "seeds":
            out.append(example(q["question"], seeds, [], False, q["lang"]))
    from bench.common import copy_collection

    news = indexed_retriever(copy_collection(CACHE / "news-seeds"), CACHE / "news-index")
    for q in load_questions(QUESTIONS / "news_train.jsonl"):
        out.append({**example(q["question"], news, q["answers"], True, q["lang"]), "news": True})
        out.append({**example(q["question"], news, q["answers"], True, q["lang"], drop_answer=True), "news": True})
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out, ensure_ascii=False))
    return out


def english_questions(more: bool = False) -> list[dict]:
    """The English train questions to fit on, each once: the 32 written for this and, with `more`,
    the 369 more translations that only the --written reader variant trains on."""
    from qa.evaluation import load_questions

    out: dict[str, dict] = {}
    names = ("piaf_train_en.jsonl", "piaf_train_en_reader_extra.jsonl") if more else ("piaf_train_en.jsonl",)
    for name in names:
        for q in load_questions(QUESTIONS / name):
            out.setdefault(q["id"], q)
    return list(out.values())


def chosen(ex: dict, weight: float, overlap_weight: float, name_weight: float, type_weight: float = 0.0) -> dict:
    return max(
        ex["readings"],
        key=lambda f: f["margin"]
        + weight * f["passage_score"]
        + overlap_weight * f["overlap"]
        + name_weight * f["name_overlap"]
        - type_weight * f["type_mismatch"],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fresh", action="store_true", help="read every question again (else reuse bench/.cache/confidence)")
    ap.add_argument("--sample", type=int, default=SAMPLE, help="French train questions to read")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--held-out", action="store_true", help="fit on the train articles a --hold-out reader was not trained on")
    ap.add_argument("--more-english", action="store_true", help="fit on 393 English train questions instead of 32")
    args = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    from qa.calibration import FEATURES, FLOOR

    examples = [e for e in collect(args) if e["readings"]]
    positives = [e for e in examples if e["answerable"]]
    log(f"{len(examples)} examples, {len(positives)} answerable")

    # 1. The passage choice: reader margin + w × search score + v × term overlap + u × name overlap
    # - t where the span is not the kind of answer asked for, chosen for the quoted sentence. The
    # news questions count as much as all of PIAF's: the product answers from news, where one
    # article names several companies and figures, and PIAF's encyclopaedia articles stand in for
    # the rest.
    def holds_rate(w: float, v: float, u: float, t: float) -> float:
        domains = ([e for e in positives if not e.get("news")], [e for e in positives if e.get("news")])
        return float(np.mean([np.mean([chosen(e, w, v, u, t)["holds"] for e in d]) for d in domains if d]))

    grid = [(w, v, u, t) for w in (0, 10, 20, 30, 40, 60, 80) for v in (0, 1, 2, 4) for u in (0, 1, 2, 4, 6) for t in (0, 2, 5, 10, 20)]
    rates = {g: holds_rate(*g) for g in grid}
    news = [e for e in positives if e.get("news")]
    for u in (0, 1, 2, 4, 6):
        log(f"  news questions, name weight {u}: {np.mean([chosen(e, 30, 0, u)['holds'] for e in news]):.3f}")
    best = max(grid, key=lambda g: (round(rates[g], 4), -g[1], -g[2], -g[3], -g[0]))
    weight, overlap_weight, name_weight, type_weight = best
    log(f"choice weights {best}: quoted sentence holds the answer {rates[best]:.3f} "
        f"(search score alone: {max(rates[(w, 0, 0, 0)] for w in (0, 10, 20, 30, 40, 60, 80)):.3f}); "
        f"PIAF {np.mean([chosen(e, *best)['holds'] for e in positives if not e.get('news')]):.3f}, "
        f"news {np.mean([chosen(e, *best)['holds'] for e in positives if e.get('news')]):.3f}")
    for u in (0, 1, 2, 4, 6):
        log(f"  name weight {u}: best {max(r for g, r in rates.items() if g[2] == u):.3f}")
    for t in (0, 2, 5, 10, 20):
        log(f"  type weight {t}: best {max(r for g, r in rates.items() if g[3] == t):.3f}")
    chosen_of = {id(e): chosen(e, *best) for e in examples}

    # 2. Confidence that the collection answers, over the chosen reading's scores. Fitted on PIAF and
    # the written questions only: the news questions' articles are a dozen short ones, whose easy
    # negatives would teach the model that a near miss looks unlike an answer.
    examples = [e for e in examples if not e.get("news")]
    X = np.maximum(np.array([[chosen_of[id(e)][f] for f in FEATURES] for e in examples]), FLOOR)
    y = np.array([e["answerable"] for e in examples], int)
    means, scales = X.mean(axis=0), X.std(axis=0) + 1e-6
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit((X - means) / scales, y)
    p = model.predict_proba((X - means) / scales)[:, 1]
    auc = float((p[y == 1][:, None] > p[y == 0][None, :]).mean())
    log(f"confidence AUC on train {auc:.3f}; weights {dict(zip(FEATURES, model.coef_[0].round(3), strict=True))}")

    # 3. The threshold: decline at most MAX_RIGHT_DECLINED of the right answers, per language.
    def abstain_rates(t: float) -> dict[str, float]:
        out = {}
        for lang in ("fr", "en"):
            pos = [(pi, chosen_of[id(e)]["holds"]) for pi, e in zip(p, examples, strict=True) if e["answerable"] and e["lang"] == lang]
            out[f"false_{lang}"] = float(np.mean([pi < t for pi, _ in pos]))
            out[f"right_declined_{lang}"] = float(np.mean([pi < t for pi, holds in pos if holds]))
        neg = [pi for pi, e in zip(p, examples, strict=True) if not e["answerable"]]
        written = [pi for pi, e in zip(p, examples, strict=True) if not e["answerable"] and not e["golds"]]
        out["unanswerable"] = float(np.mean(np.array(neg) < t))
        out["written_unanswerable"] = float(np.mean(np.array(written) < t))
        return out

    candidates = np.round(np.linspace(0.02, 0.9, 89), 3)
    ok = [t for t in candidates if max(abstain_rates(t)["right_declined_fr"], abstain_rates(t)["right_declined_en"]) <= MAX_RIGHT_DECLINED]
    threshold = float(max(ok)) if ok else float(candidates[0])
    log(f"abstain below {threshold}: {abstain_rates(threshold)}")

    # 4. The short answer is hidden below the margin where its expected F1 falls under one half; the
    # span reader's (qa/data/span_reader.npz), where there is one, from its own margin.
    from qa.evaluation import token_f1

    def shown_from(reader: str, margin: str, short: str) -> float:
        pairs = sorted((chosen_of[id(e)][margin], token_f1(chosen_of[id(e)][short], e["golds"])) for e in positives)
        span_min = float(pairs[0][0]) - 1
        for i in range(0, len(pairs) - 20):
            window = [f for _, f in pairs[i : i + 40]]
            if np.mean(window) >= 0.5:
                span_min = float(pairs[i][0])
                break
        shown = [f for m, f in pairs if m >= span_min]
        log(f"{reader}'s short answer shown from margin {span_min:.2f}: {len(shown)}/{len(pairs)}, mean F1 where shown {np.mean(shown):.3f}")
        return span_min

    span_min = shown_from("the reader", "margin", "short")
    spans_read = all("span_reader_margin" in chosen_of[id(e)] for e in positives)
    span_reader_min = shown_from("the span reader", "span_reader_margin", "span_reader_short") if spans_read else span_min

    data = {
        "features": list(FEATURES),
        "weights": [float(w) for w in model.coef_[0]],
        "bias": float(model.intercept_[0]),
        "means": [float(m) for m in means],
        "scales": [float(s) for s in scales],
        "abstain_below": threshold,
        "span_min_margin": round(span_min, 3),
        "span_reader_min_margin": round(span_reader_min, 3),
        "choice_weight": float(weight),
        "overlap_weight": float(overlap_weight),
        "name_weight": float(name_weight),
        "type_weight": float(type_weight),
        "fitted_on": {
            "examples": len(examples),
            "answerable": len(positives),
            "train_auc": round(auc, 4),
            "train_rates_at_threshold": {k: round(v, 4) for k, v in abstain_rates(threshold).items()},
            "quoted_sentence_holds_answer_train": round(rates[best], 4),
        },
    }
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
