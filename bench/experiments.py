"""Retrieval design experiments: chunk size, sentence-level scoring, BM25 fusion (numbers in README)."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from qa.chunking import chunk_article
from qa.corpus import load_articles
from qa.embedding import load_embedder
from qa.evaluation import evidence_rank, load_questions
from qa.sentences import sentence_spans

ROOT = Path(__file__).resolve().parent.parent


def collection(tmp: Path) -> Path:
    for src in (ROOT / "seeds", ROOT / "bench" / "distractors"):
        for f in src.iterdir():
            shutil.copy(f, tmp / f.name)
    return tmp


def run(model: str, sizes: list[int], question_files: list[Path]) -> None:
    import bm25s

    emb = load_embedder(model)
    with tempfile.TemporaryDirectory() as d:
        articles, _ = load_articles(collection(Path(d)))
    questions = [q for f in question_files for q in load_questions(f) if q["answerable"]]
    qv = emb.embed_queries([q["question"] for q in questions])
    for size in sizes:
        passages = [p for a in articles for p in chunk_article(a, size, size // 5)]
        pv = emb.embed_passages([p.text for p in passages])
        sents = [(i, p.text[s:e]) for i, p in enumerate(passages) for s, e in sentence_spans(p.text)]
        sv = emb.embed_passages([t for _, t in sents])
        owner = np.array([i for i, _ in sents])
        dense = qv @ pv.T
        sent = np.full_like(dense, -1.0)
        ss = qv @ sv.T
        for j, i in enumerate(owner):
            sent[:, i] = np.maximum(sent[:, i], ss[:, j])
        tok = bm25s.tokenize([p.text for p in passages], stopwords=["fr", "en"])
        bm = bm25s.BM25()
        bm.index(tok, show_progress=False)
        lex = np.zeros_like(dense)
        for qi, q in enumerate(questions):
            qt = bm25s.tokenize([q["question"]], stopwords=["fr", "en"], return_ids=False, show_progress=False)[0]
            scores = bm.get_scores(qt)
            lex[qi] = scores / (scores.max() or 1.0)
        variants = {
            "dense": dense,
            "max(passage,sentence)": np.maximum(dense, sent),
            "mean(passage,sentence)": (dense + sent) / 2,
            "dense+0.05*bm25": dense + 0.05 * lex,
            "max+0.05*bm25": np.maximum(dense, sent) + 0.05 * lex,
            "mean+0.03*bm25": (dense + sent) / 2 + 0.03 * lex,
        }
        for name, scores in variants.items():
            ranks = []
            for qi, q in enumerate(questions):
                order = np.argsort(-scores[qi])[:10]
                ranks.append(evidence_rank([passages[i] for i in order], q))
            h1 = np.mean([r == 1 for r in ranks])
            h3 = np.mean([r is not None and r <= 3 for r in ranks])
            mrr = np.mean([1 / r if r else 0 for r in ranks])
            print(
                json.dumps(
                    {
                        "size": size,
                        "passages": len(passages),
                        "variant": name,
                        "hit@1": round(h1, 3),
                        "hit@3": round(h3, 3),
                        "mrr": round(mrr, 3),
                    }
                )
            )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="e5-small")
    ap.add_argument("--sizes", default="200,300,400,600,800")
    ap.add_argument(
        "questions", nargs="*", default=[str(ROOT.parent / "shared/eval/dev.jsonl"), str(ROOT / "bench/questions.jsonl")]
    )
    a = ap.parse_args()
    run(a.model, [int(s) for s in a.sizes.split(",")], [Path(q) for q in a.questions])
