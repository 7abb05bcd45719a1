"""The direction along which the search's encoder writes English against French: the mean of
(English question − its French original) over the English translations written here of PIAF train
questions, normalised. Writes qa/data/language_direction.json (qa/crosslingual.py reads it).

    python -m training.language_direction

Deterministic: the same questions embedded by the same encoder give the same file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from training.common import DATA, PIAF_QUESTIONS, QUESTIONS, log

OUT = DATA / "language_direction.json"
ENGLISH = QUESTIONS / "piaf_train_en_reader.jsonl"


def parallel_questions() -> list[tuple[str, str]]:
    """(French PIAF train question, its English translation)."""
    french = {q["id"]: q for q in map(json.loads, PIAF_QUESTIONS.open(encoding="utf-8")) if q.get("split") == "train"}
    pairs = [json.loads(line) for line in ENGLISH.open(encoding="utf-8")]
    return [(french[p["source"]]["question"], p["question"]) for p in pairs if p.get("source") in french]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    import qa
    from qa.crosslingual import model_name
    from qa.embedding import load_embedder

    settings = qa.Settings.from_env(env={})
    embedder = load_embedder(settings.model, settings.query_prompt, settings.passage_prompt)
    pairs = parallel_questions()
    french = embedder.embed_queries([f for f, _ in pairs])
    english = embedder.embed_queries([e for _, e in pairs])
    direction = (english - french).mean(0)
    direction /= np.linalg.norm(direction)
    along = (english - french) @ direction
    log(f"{len(pairs)} question pairs; each pair's difference along the direction: median {np.median(along):.3f}")
    data = {"model": model_name(embedder.model_id), "pairs": len(pairs), "vector": [round(float(x), 6) for x in direction]}
    args.out.write_text(json.dumps(data) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
