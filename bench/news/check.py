"""Checks the news collection (stdlib only): python bench/news/check.py

- every article loads (UTF-8), ids (file stems) are unique, language tag in the stem (_fr/_en);
- every question has the fields of shared/eval/README.md plus split, kind, event;
- every evidence, version and lure text is an exact substring of its article;
- every answer key appears (after NFKC, ’ → ', lower case) in at least one evidence article;
- unanswerable rows have no evidence and no keys;
- follow-up histories are questions of other rows; two-source rows have one version per article
  and values that agree or differ as labelled;
- the split is by event (README table): a question's event, and every article its evidence
  cites, belong to the question's split;
- conversations: 3–5 turns of known ids in one split; a follow-up turn comes right after its history;
- the counts per kind and split reach the minimums; prints the summary table.
Exits 1 on the first kind of failure listed, after printing all problems.
"""

from __future__ import annotations

import collections
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ARTICLES = HERE / "articles"
KINDS = ("single", "near_miss", "follow_up", "two_sources", "metadata")
MINIMUMS = {"single": 70, "near_miss": 45, "follow_up": 25, "two_sources": 25, "metadata": 6}
MIN_AGREE, MIN_DIFFER, MIN_QUESTIONS, MIN_ARTICLES, MIN_CONVERSATIONS = 10, 10, 170, 44, 15
FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.S)
# Lines a reader must never quote: bylines, "read more", share lines, footers, agency and date headers.
DATE_HEADER = re.compile(r"\s*date \d{4}-\d\d \([^)]*\)\s*")
BOILERPLATE = re.compile(
    r"^\s*(Par |By |Lire aussi|Read more|Partager|Share on|©|L'article .* (est apparu|apparaît) en premier|"
    r"Agence France-Presse$|Reuters$|\(Reporting by|date \d{4}-\d\d \()"
)

Row = dict[str, Any]

problems: list[str] = []


def norm(s: str) -> str:
    return unicodedata.normalize("NFKC", s).replace("\u2019", "'").lower()


def load_articles() -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted(ARTICLES.iterdir()):
        if path.suffix not in (".md", ".txt"):
            problems.append(f"{path.name}: not .md or .txt")
            continue
        if path.stem in texts:
            problems.append(f"{path.name}: duplicate id {path.stem}")
        if not re.search(r"_(fr|en)$", path.stem):
            problems.append(f"{path.name}: stem does not end in _fr or _en")
        texts[path.stem] = path.read_text(encoding="utf-8")
    return texts


def load_events() -> dict[str, dict]:
    """The README table: | event | subject | split | articles |."""
    events = {}
    for line in (HERE / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"E\d\d", cells[0]):
            docs = re.findall(r"n\d\d_[a-z0-9_]+", cells[3])
            events[cells[0]] = {"split": cells[2], "docs": docs, "subject": cells[1]}
    return events


def split_of_each_article(events: dict[str, dict]) -> dict[str, str]:
    """Article id -> the split of the README event that lists it."""
    return {d: e["split"] for e in events.values() for d in e["docs"]}


def check_articles_against_events(texts: dict[str, str], doc_split: dict[str, str]) -> None:
    for d in texts:
        if d not in doc_split:
            problems.append(f"article {d} is in no event of the README table")
    for d in doc_split:
        if d not in texts:
            problems.append(f"README names {d}, which is not in articles/")


def read_jsonl(name: str) -> list[Row]:
    return [json.loads(line) for line in (HERE / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def is_outside_body(full: str, text: str) -> bool:
    """Whether the first occurrence of text is in the front matter, the title line or heading, or a boilerplate line."""
    start = full.index(text)
    line_start = full.rfind("\n", 0, start) + 1
    line = full[line_start:].split("\n", 1)[0]
    header = DATE_HEADER.match(line)  # " date 2024-09 (Toulouse) Le sous-traitant…": the text may follow it
    if header and start - line_start >= header.end():
        line = line[header.end() :]
    front = FRONT_MATTER.match(full)
    first_line = full.lstrip().split("\n", 1)[0]
    return bool((front and start < front.end()) or line.startswith("# ") or line == first_line or BOILERPLATE.match(line))


def check_substring(texts: dict[str, str], where: str, doc: str, text: str, body_only: bool = True) -> None:
    if doc not in texts:
        problems.append(f"{where}: unknown article {doc}")
    elif not text or text not in texts[doc]:
        problems.append(f"{where}: text not an exact substring of {doc}: {text!r}")
    elif body_only and is_outside_body(texts[doc], text):
        problems.append(f"{where}: text is in a title, front matter or boilerplate line of {doc}: {text!r}")


def check_row_fields(r: Row, rid: str) -> None:
    for field in ("id", "lang", "question", "answerable", "evidence", "answer_keys", "split", "kind", "event"):
        if field not in r:
            problems.append(f"{rid}: missing {field}")


def check_row_labels(r: Row, rid: str, events: dict[str, dict]) -> None:
    if r.get("lang") not in ("fr", "en"):
        problems.append(f"{rid}: lang {r.get('lang')!r}")
    if r.get("kind") not in KINDS:
        problems.append(f"{rid}: kind {r.get('kind')!r}")
    if r.get("split") not in ("train", "dev"):
        problems.append(f"{rid}: split {r.get('split')!r}")
    event = events.get(r.get("event", ""))
    if not event:
        problems.append(f"{rid}: event {r.get('event')!r} not in the README table")
    elif event["split"] != r["split"]:
        problems.append(f"{rid}: split {r['split']} but event {r['event']} is {event['split']}")


def check_row_evidence(r: Row, rid: str, texts: dict[str, str], doc_split: dict[str, str]) -> None:
    """Evidence spans and splits, answer keys, and the unanswerable rows' lure."""
    for e in r.get("evidence", []):
        check_substring(texts, f"{rid} evidence", e["doc"], e["text"], body_only=r.get("kind") != "metadata")
        if doc_split.get(e["doc"]) != r.get("split"):
            problems.append(f"{rid}: evidence {e['doc']} is in the other split")
    if r.get("answerable"):
        if not r["evidence"] or not r["answer_keys"]:
            problems.append(f"{rid}: answerable without evidence or keys")
        evidence_text = " ".join(norm(texts.get(e["doc"], "")) for e in r["evidence"])
        for key in r["answer_keys"]:
            if norm(key) not in evidence_text:
                problems.append(f"{rid}: key {key!r} in no evidence article")
    else:
        if r.get("evidence") or r.get("answer_keys"):
            problems.append(f"{rid}: unanswerable with evidence or keys")
        if r.get("kind") != "near_miss":
            problems.append(f"{rid}: unanswerable but kind {r.get('kind')}")
        lure = r.get("lure")
        if lure:
            check_substring(texts, f"{rid} lure", lure["doc"], lure["text"])
    if r.get("kind") == "near_miss" and r.get("answerable"):
        problems.append(f"{rid}: near_miss must be unanswerable")


def check_row_history(r: Row, rid: str, questions: set[str]) -> None:
    if r.get("kind") == "follow_up":
        history = r.get("history") or []
        if not history:
            problems.append(f"{rid}: follow_up without history")
        for h in history:
            if h not in questions or h == r["question"]:
                problems.append(f"{rid}: history question not a row of its own: {h!r}")
    elif "history" in r:
        problems.append(f"{rid}: history on a {r.get('kind')} row")


def check_row_versions(r: Row, rid: str, texts: dict[str, str]) -> None:
    """A two_sources row: one version per article, values that agree or differ as labelled."""
    versions = r.get("versions") or []
    docs = [v["doc"] for v in versions]
    if len(set(docs)) < 2 or len(set(docs)) != len(docs):
        problems.append(f"{rid}: two_sources needs one version per article, at least two articles")
    for v in versions:
        check_substring(texts, f"{rid} version", v["doc"], v["text"])
        if not v.get("value"):
            problems.append(f"{rid}: version without value")
    values = {v.get("value") for v in versions}
    agreement = r.get("agreement")
    if agreement == "agree" and len(values) != 1:
        problems.append(f"{rid}: agree but values {values}")
    elif agreement == "differ" and len(values) < 2:
        problems.append(f"{rid}: differ but one value {values}")
    elif agreement not in ("agree", "differ"):
        problems.append(f"{rid}: agreement {agreement!r}")
    if sorted(docs) != sorted(e["doc"] for e in r.get("evidence", [])):
        problems.append(f"{rid}: evidence articles differ from version articles")


def checked_rows_by_id(rows: list[Row], texts: dict[str, str], events: dict[str, dict], doc_split: dict[str, str]) -> dict[str, Row]:
    """Checks every question row; returns the rows by id (the last of duplicates)."""
    by_id: dict[str, Row] = {}
    questions = {r["question"] for r in rows}
    for r in rows:
        rid = r.get("id", "?")
        check_row_fields(r, rid)
        if rid in by_id:
            problems.append(f"{rid}: duplicate id")
        by_id[rid] = r
        check_row_labels(r, rid, events)
        check_row_evidence(r, rid, texts, doc_split)
        check_row_history(r, rid, questions)
        if r.get("kind") == "two_sources":
            check_row_versions(r, rid, texts)
    return by_id


def cross_lingual_count(rows: list[Row]) -> int:
    """Answerable rows asked in a language none of their evidence articles is in."""
    return sum(1 for r in rows if r.get("answerable") and r.get("lang") not in {e["doc"][-2:] for e in r["evidence"]})


def check_conversations(conversations: list[Row], by_id: dict[str, Row]) -> None:
    conversation_ids = set()
    for c in conversations:
        cid, turns = c.get("id"), c.get("turns", [])
        if cid in conversation_ids:
            problems.append(f"conversation {cid}: duplicate id")
        conversation_ids.add(cid)
        if not 3 <= len(turns) <= 5:
            problems.append(f"conversation {cid}: {len(turns)} turns")
        unknown = [t for t in turns if t not in by_id]
        if unknown:
            problems.append(f"conversation {cid}: unknown ids {unknown}")
            continue
        if len({by_id[t]["split"] for t in turns}) != 1:
            problems.append(f"conversation {cid}: mixes splits")
        for i, t in enumerate(turns):
            row = by_id[t]
            if row["kind"] == "follow_up" and (i == 0 or by_id[turns[i - 1]]["question"] != row["history"][-1]):
                problems.append(f"conversation {cid}: follow-up {t} not right after its history question")


def follow_ups_in_conversations_count(conversations: list[Row], by_id: dict[str, Row]) -> int:
    """Follow-up turns in the conversations whose turns are all known ids."""
    return sum(
        1
        for c in conversations
        if all(t in by_id for t in c.get("turns", []))
        for t in c.get("turns", [])
        if by_id[t]["kind"] == "follow_up"
    )


def kind_and_agreement_counts(rows: list[Row]) -> tuple[collections.Counter, collections.Counter]:
    """Rows per (kind, split), and two_sources rows per (agreement, split)."""
    count = collections.Counter((r["kind"], r["split"]) for r in rows)
    agreement = collections.Counter((r.get("agreement"), r["split"]) for r in rows if r["kind"] == "two_sources")
    return count, agreement


def print_kind_table(
    count: collections.Counter, agreement: collections.Counter, rows: list[Row], doc_split: dict[str, str], article_count: int
) -> None:
    """Prints the counts per kind (and two_sources agreement) and split; checks them against the minimums."""
    print("| kind | train | dev | total |\n|---|---|---|---|")
    for kind in KINDS:
        t, d = count[(kind, "train")], count[(kind, "dev")]
        print(f"| {kind} | {t} | {d} | {t + d} |")
        if t + d < MINIMUMS[kind]:
            problems.append(f"{kind}: {t + d} < {MINIMUMS[kind]}")
        if not t or not d:
            problems.append(f"{kind}: a split has none")
    for a in ("agree", "differ"):
        t, d = agreement[(a, "train")], agreement[(a, "dev")]
        print(f"| two_sources {a} | {t} | {d} | {t + d} |")
        if t + d < (MIN_AGREE if a == "agree" else MIN_DIFFER) or not t or not d:
            problems.append(f"two_sources {a}: {t} train, {d} dev")
    split = collections.Counter(r["split"] for r in rows)
    print(f"| all | {split['train']} | {split['dev']} | {len(rows)} |")
    arts = collections.Counter(doc_split.values())
    print(f"| articles | {arts['train']} | {arts['dev']} | {article_count} |")


def print_summary(
    texts: dict[str, str],
    events: dict[str, dict],
    rows: list[Row],
    conversations: list[Row],
    doc_split: dict[str, str],
    cross_lingual: int,
    follow_ups_in_conversations: int,
) -> None:
    """Prints the collection's sizes, the kind table, languages and article lengths; checks the totals."""
    count, agreement = kind_and_agreement_counts(rows)
    print(f"{len(texts)} articles ({sum(d.endswith('_fr') for d in texts)} French, {sum(d.endswith('_en') for d in texts)} English), "
          f"{len(events)} events, {len(rows)} questions, {len(conversations)} conversations\n")
    print_kind_table(count, agreement, rows, doc_split, len(texts))
    langs = collections.Counter(r["lang"] for r in rows)
    answerable = sum(1 for r in rows if r["answerable"])
    print(f"\nquestions: {langs['fr']} French, {langs['en']} English; {cross_lingual} of {answerable} answerable ones "
          f"asked in a language none of their evidence articles is in; "
          f"{follow_ups_in_conversations} follow-ups inside conversations")
    words = {d: len(FRONT_MATTER.sub("", t).split()) for d, t in texts.items()}
    print(f"article length: {min(words.values())}–{max(words.values())} words (body, boilerplate included)")
    if len(rows) < MIN_QUESTIONS:
        problems.append(f"{len(rows)} questions < {MIN_QUESTIONS}")
    if len(texts) < MIN_ARTICLES:
        problems.append(f"{len(texts)} articles < {MIN_ARTICLES}")
    if len(conversations) < MIN_CONVERSATIONS:
        problems.append(f"{len(conversations)} conversations < {MIN_CONVERSATIONS}")


def exit_code_after_report() -> int:
    """Prints the problems (or OK); 1 if there were any."""
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print(" -", p)
        return 1
    print("\nOK")
    return 0


def main() -> int:
    texts = load_articles()
    events = load_events()
    doc_split = split_of_each_article(events)
    check_articles_against_events(texts, doc_split)
    rows = read_jsonl("questions.jsonl")
    by_id = checked_rows_by_id(rows, texts, events, doc_split)
    cross_lingual = cross_lingual_count(rows)
    conversations = read_jsonl("conversations.jsonl")
    check_conversations(conversations, by_id)
    follow_ups = follow_ups_in_conversations_count(conversations, by_id)
    print_summary(texts, events, rows, conversations, doc_split, cross_lingual, follow_ups)
    return exit_code_after_report()


if __name__ == "__main__":
    sys.exit(main())
