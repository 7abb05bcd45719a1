"""Scoring against question files (format: ../shared/eval/README.md): hit@k, MRR, answers, abstention, latency."""

from __future__ import annotations

import json
import statistics
import time
import unicodedata
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Protocol

# A passage that holds most of the evidence span still counts when a chunk boundary cuts it.
PARTIAL_EVIDENCE = 0.6


class HasText(Protocol):
    doc_id: str
    text: str


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("’", "'").lower()


def load_questions(path: Path | str) -> list[dict[str, Any]]:
    questions = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
            if "question" not in q:
                raise ValueError(f"{path}:{n}: no 'question' field")
            q.setdefault("id", f"q{n}")
            q.setdefault("answerable", bool(q.get("evidence")))
            q.setdefault("evidence", [])
            q.setdefault("answer_keys", [])
            questions.append(q)
    return questions


def holds_evidence(passage: HasText, question: dict[str, Any]) -> bool:
    text = normalise(passage.text)
    for ev in question.get("evidence", []):
        if ev.get("doc") != passage.doc_id:
            continue
        span = normalise(ev["text"])
        if span in text:
            return True
        m = SequenceMatcher(None, text, span, autojunk=False).find_longest_match(0, len(text), 0, len(span))
        if m.size >= PARTIAL_EVIDENCE * len(span):
            return True
    return False


def evidence_rank(passages: Sequence[HasText], question: dict[str, Any]) -> int | None:
    """1-based rank of the first passage holding the evidence, or None."""
    for i, p in enumerate(passages, 1):
        if holds_evidence(p, question):
            return i
    return None


def has_key(answer_text: str, keys: Sequence[str]) -> bool:
    text = normalise(answer_text)
    return any(normalise(k) in text for k in keys)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def score_run(
    questions: Sequence[dict[str, Any]],
    search: Callable[[str], Sequence[HasText]],
    answer: Callable[[str], tuple[str, bool]] | None = None,
) -> dict[str, Any]:
    """Run every question through `search` (and `answer`: text, abstained) and score the results."""
    rows: list[dict[str, Any]] = []
    for q in questions:
        t0 = time.perf_counter()
        found = list(search(q["question"]))[:10]
        search_s = time.perf_counter() - t0
        row: dict[str, Any] = {
            "id": q["id"],
            "answerable": q["answerable"],
            "search_s": search_s,
            "rank": evidence_rank(found, q) if q["answerable"] else None,
        }
        if answer:
            t0 = time.perf_counter()
            text, abstained = answer(q["question"])
            row.update(
                answer_s=time.perf_counter() - t0,
                abstained=abstained,
                correct=(not abstained) and has_key(text, q["answer_keys"]),
                answer=text,
            )
        rows.append(row)
    return summarise(rows)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in rows if r["answerable"]]
    unans = [r for r in rows if not r["answerable"]]

    def share(pred: Callable[[dict[str, Any]], bool], among: list[dict[str, Any]]) -> float:
        return sum(1 for r in among if pred(r)) / len(among) if among else float("nan")

    out: dict[str, Any] = {
        "questions": len(rows),
        "answerable": len(ans),
        "hit@1": share(lambda r: r["rank"] == 1, ans),
        "hit@3": share(lambda r: r["rank"] is not None and r["rank"] <= 3, ans),
        "hit@5": share(lambda r: r["rank"] is not None and r["rank"] <= 5, ans),
        "mrr": sum(1 / r["rank"] for r in ans if r["rank"]) / len(ans) if ans else float("nan"),
        "search_p50_ms": 1000 * percentile(sorted(r["search_s"] for r in rows), 50),
        "search_p95_ms": 1000 * percentile(sorted(r["search_s"] for r in rows), 95),
        "rows": rows,
    }
    if rows and "abstained" in rows[0]:
        times = sorted(r["answer_s"] for r in rows)
        out.update(
            {
                "answer_accuracy": share(lambda r: r["correct"], ans),
                "false_abstentions": sum(1 for r in ans if r["abstained"]),
                "abstained_unanswerable": sum(1 for r in unans if r["abstained"]),
                "unanswerable": len(unans),
                "answer_p50_ms": 1000 * percentile(times, 50),
                "answer_p95_ms": 1000 * percentile(times, 95),
            }
        )
    return out
