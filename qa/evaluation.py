"""Scoring against question files (format: ../shared/eval/README.md): hit@k, MRR, answers, abstention, latency."""

from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qa.config import user_cache_dir

if TYPE_CHECKING:
    from qa.answer import Answer

# A passage that holds most of the evidence span still counts when a chunk boundary cuts it.
PARTIAL_EVIDENCE = 0.6


class HasText(Protocol):
    doc_id: str
    text: str


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("’", "'").lower()


def load_questions(path: Path | str, split: str | None = None) -> list[dict[str, Any]]:
    """Questions in the dev format or PIAF's (`answers` + `doc`, with a `split`), as dev-format rows.

    With `split`, rows of another split are left out (rows without a split are kept)."""
    questions = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
            if not isinstance(q, dict) or "question" not in q:
                raise ValueError(f"{path}:{n}: no 'question' field")
            if split and q.get("split", split) != split:
                continue
            q.setdefault("id", f"q{n}")
            if q.get("answers") and "evidence" not in q:
                # PIAF: the gold spans are verbatim in the article; a passage must hold one whole.
                q["evidence"] = [{"doc": q.get("doc", ""), "text": a, "exact": True} for a in q["answers"]]
                q.setdefault("answer_keys", list(q["answers"]))
            q.setdefault("answerable", bool(q.get("evidence")))
            q.setdefault("evidence", [])
            q.setdefault("answer_keys", [])
            q.setdefault("lang", "fr")
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
        if ev.get("exact"):
            continue
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
    text = " ".join(normalise(answer_text).split())
    return any(" ".join(normalise(k).split()) in text for k in keys)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass(frozen=True)
class Response:
    """What a system answered, as the scores need it."""

    text: str
    abstained: bool
    quote: str = ""  # the first quoted sentence ("" = the whole text)
    short: str = ""  # the short answer, if any
    passages: Sequence[HasText] = ()  # the answer's own ranking of passages, if it reranks
    confidence: float | None = None  # how sure the system is that the articles answer, if it says
    agreement: str | None = None  # where several articles answer: "agree", "differ" or None
    versions: int = 0  # how many articles' versions the answer shows

    @classmethod
    def of(cls, answer: Answer) -> Response:
        """The product's answer as the scores need it: its first quote and its short answer."""
        quote = answer.quotes[0].text if answer.quotes else ""
        short = answer.short_answer.text if answer.short_answer else ""
        return cls(answer.text, answer.abstained, quote, short, answer.passages, answer.confidence, answer.agreement, len(answer.versions))


def articles_of(question: dict[str, Any]) -> frozenset[str]:
    """The articles a question is about: its `doc` (PIAF) or its evidence's."""
    return frozenset([question["doc"]] if question.get("doc") else [e.get("doc", "") for e in question.get("evidence", [])])


def unrelated_history(questions: Sequence[dict[str, Any]], turns: int = 2) -> dict[str, list[str]]:
    """For each question, `turns` earlier questions on other subjects, as a user who changes subject
    asks them: the next ones in the file (going round) whose articles are all other articles."""
    out: dict[str, list[str]] = {}
    for i, q in enumerate(questions):
        mine, earlier = articles_of(q), []
        for k in range(1, len(questions)):
            other = questions[(i + k) % len(questions)]
            theirs = articles_of(other)
            if theirs and not theirs & mine:
                earlier.append(other["question"])
                if len(earlier) == turns:
                    break
        out[q["id"]] = earlier
    return out


Ask = Callable[..., "tuple[str, bool] | Response"]


def score_run(
    questions: Sequence[dict[str, Any]],
    search: Callable[[str], Sequence[HasText]],
    answer: Ask | None = None,
    earlier: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Run every question through `search` (and `answer`) and score the results, overall and per
    language. A question with a `history` (a follow-up) is answered after it, and after its
    `earlier` questions when given (unrelated_history: a conversation that changed subject);
    `answer` then takes the history as its second argument."""
    rows: list[dict[str, Any]] = []
    for q in questions:
        t0 = time.perf_counter()
        found = list(search(q["question"]))[:10]
        search_s = time.perf_counter() - t0
        rank = evidence_rank(found, q) if q["answerable"] else None
        row: dict[str, Any] = {"id": q["id"], "lang": q.get("lang", ""), "answerable": q["answerable"], "search_s": search_s}
        if q.get("kind"):
            row["kind"] = q["kind"]
        row["search_rank"] = row["rank"] = rank
        if answer:
            history = [*(earlier or {}).get(q["id"], []), *q.get("history", [])]
            t0 = time.perf_counter()
            res = answer(q["question"], history) if history else answer(q["question"])
            answer_s = time.perf_counter() - t0
            if not isinstance(res, Response):
                res = Response(*res)
            quote = res.quote or res.text
            golds = q["answer_keys"]
            ok = not res.abstained
            if res.passages and q["answerable"]:
                row["rank"] = evidence_rank(list(res.passages)[:10], q)
            row.update(
                answer_s=answer_s,
                abstained=res.abstained,
                correct=ok and has_key(res.text, golds),
                holds=ok and has_key(quote, golds),
                em=exact_match(res.short, golds) if ok and res.short and golds else 0.0,
                # A short answer shown in bold that is not the answer: none is, for an unanswerable question.
                short_wrong=bool(ok and res.short and not (golds and has_key(res.short, golds))),
                f1=token_f1(res.short, golds) if ok and res.short and golds else 0.0,
                short=res.short,
                answer_chars=len(res.text) if ok else None,
                answer=res.text,
                confidence=res.confidence,
                versions=res.versions,
            )
            if q.get("agreement"):  # the articles agree or differ on the answer (two_sources)
                row["agreement_right"] = res.agreement == q["agreement"]
        rows.append(row)
    return summarise(rows)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = scores_of(rows)
    out["rows"] = rows
    langs = sorted({r["lang"] for r in rows if r.get("lang")})
    if len(langs) > 1:
        out["by_lang"] = {lang: scores_of([r for r in rows if r.get("lang") == lang]) for lang in langs}
    kinds = sorted({r["kind"] for r in rows if r.get("kind")})
    if len(kinds) > 1:
        out["by_kind"] = {kind: scores_of([r for r in rows if r.get("kind") == kind]) for kind in kinds}
    return out


def scores_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in rows if r["answerable"]]
    unans = [r for r in rows if not r["answerable"]]

    def share(pred: Callable[[dict[str, Any]], bool], among: list[dict[str, Any]]) -> float:
        return sum(1 for r in among if pred(r)) / len(among) if among else float("nan")

    def mean(key: str, among: list[dict[str, Any]]) -> float:
        return sum(r[key] for r in among) / len(among) if among else float("nan")

    out: dict[str, Any] = {
        "questions": len(rows),
        "answerable": len(ans),
        "hit@1": share(lambda r: r["rank"] == 1, ans),
        "hit@3": share(lambda r: r["rank"] is not None and r["rank"] <= 3, ans),
        "hit@5": share(lambda r: r["rank"] is not None and r["rank"] <= 5, ans),
        "mrr": sum(1 / r["rank"] for r in ans if r["rank"]) / len(ans) if ans else float("nan"),
        "search_hit@1": share(lambda r: r["search_rank"] == 1, ans),
        "search_p50_ms": 1000 * percentile(sorted(r["search_s"] for r in rows), 50),
        "search_p95_ms": 1000 * percentile(sorted(r["search_s"] for r in rows), 95),
    }
    if rows and "abstained" in rows[0]:
        times = sorted(r["answer_s"] for r in rows)
        lengths = sorted(r["answer_chars"] for r in rows if r["answer_chars"] is not None)
        out.update(
            {
                "answer_accuracy": share(lambda r: r["correct"], ans),
                "sentence_holds_answer": share(lambda r: r["holds"], ans),
                "short_em": mean("em", ans),
                "short_f1": mean("f1", ans),
                "short_shown": share(lambda r: bool(r["short"]) and not r["abstained"], ans),
                "short_wrong_shown": sum(1 for r in rows if r.get("short_wrong")),
                "agreement_right": share(lambda r: r["agreement_right"], [r for r in rows if "agreement_right" in r]),
                "versions_shown": share(lambda r: r.get("versions", 0) > 1, ans),
                "false_abstentions": sum(1 for r in ans if r["abstained"]),
                "false_abstention_rate": share(lambda r: r["abstained"], ans),
                "abstained_unanswerable": sum(1 for r in unans if r["abstained"]),
                "unanswerable": len(unans),
                "median_answer_chars": statistics.median(lengths) if lengths else float("nan"),
                "answer_p50_ms": 1000 * percentile(times, 50),
                "answer_p95_ms": 1000 * percentile(times, 95),
                **reliability(rows),
            }
        )
    return out


# The confidence bands of the reliability table: (lowest, highest), the chat's words' thresholds among them.
BANDS = ((0.9, 1.0), (0.7, 0.9), (0.5, 0.7), (0.0, 0.5))


def reliability(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How often the answers shown are right (the quote or the short answer holds the answer; an
    answer to an unanswerable question is wrong) by confidence band, and the expected calibration
    error over ten equal bands: the mean gap between confidence and the share right, weighted.
    Nothing for a system that gives no confidence."""
    shown = [(min(r["confidence"], 1.0), bool(r["answerable"] and r["correct"])) for r in rows if not r["abstained"] and r.get("confidence") is not None]
    if not shown and any(r.get("confidence") is None for r in rows):
        return {}  # a system that says nothing of how sure it is (the baselines)
    table = {}
    for lo, hi in BANDS:
        inside = [right for p, right in shown if lo <= p < hi or (hi == 1.0 and p == 1.0)]
        table[f"{lo:.1f}-{hi:.1f}"] = {"shown": len(inside), "right": sum(inside)}
    gap = 0.0
    for b in range(10):
        inside = [(p, right) for p, right in shown if min(int(p * 10), 9) == b]
        if inside:
            gap += abs(sum(p for p, _ in inside) - sum(right for _, right in inside))
    return {"reliability": table, "ece": gap / len(shown) if shown else float("nan")}


_ARTICLES = re.compile(r"\b(?:le|la|les|l|un|une|des|du|de|d|the|a|an)\b")


def squad_tokens(text: str) -> list[str]:
    """SQuAD's answer normalisation (lower case, no punctuation, no articles), French articles included."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return _ARTICLES.sub(" ", text).split()


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    return max((float(squad_tokens(prediction) == squad_tokens(g)) for g in golds), default=0.0)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD's token F1 against the best-matching gold answer."""
    best = 0.0
    p = squad_tokens(prediction)
    for gold in golds:
        g = squad_tokens(gold)
        common = sum((Counter(p) & Counter(g)).values())
        if not p or not g:
            best = max(best, float(p == g))
        elif common:
            precision, recall = common / len(p), common / len(g)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def eval_collection(question_file: Path, questions: Sequence[dict[str, Any]]) -> Path | None:
    """For questions that name their article (`doc`): a folder holding a copy of just those articles,
    from the `corpus/` folder beside the question file, with room for their index. None otherwise."""
    import hashlib
    import os
    import shutil

    docs = sorted({q["doc"] for q in questions if q.get("doc")})
    corpus = Path(question_file).resolve().parent / "corpus"
    if not docs or not corpus.is_dir():
        return None
    files = [corpus / f"{d}.txt" for d in docs]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"{len(missing)} article(s) named by the questions are not in {corpus}: {', '.join(missing[:3])}")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + f.read_bytes())
    cache = user_cache_dir() / "eval"
    folder = cache / f"{corpus.parent.name}-{len(docs)}-{digest.hexdigest()[:12]}"
    seeds = folder / "seeds"
    if not seeds.is_dir():
        tmp = folder / f".seeds-{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, tmp / f.name)
        try:
            tmp.rename(seeds)
        except OSError:  # another run made it first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
